"""The CPU recurrent path without packing gives the packed run's outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nndsl.backend.recurrent_padded import reversal_index, run_padded

MODULES = [
    (torch.nn.LSTM, {"bidirectional": True}),
    (torch.nn.LSTM, {"bidirectional": True, "num_layers": 2}),
    (torch.nn.LSTM, {"bidirectional": True, "proj_size": 3}),
    (torch.nn.LSTM, {}),
    (torch.nn.GRU, {"bidirectional": True}),
    (torch.nn.RNN, {"nonlinearity": "relu", "bidirectional": True}),
]


def test_reversal_index_reverses_within_each_length() -> None:
    index = reversal_index(torch.tensor([3, 1, 5]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]


@pytest.mark.parametrize(("kind", "options"), MODULES)
def test_padded_run_matches_packed(kind: type, options: dict) -> None:
    torch.manual_seed(0)
    module = kind(5, 6, batch_first=True, **options).double()
    inputs = torch.randn(4, 9, 5, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([9, 3, 1, 6])
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(module(packed)[0], batch_first=True, total_length=9)
    # Padding holds large values: a valid output that read any of them would differ.
    padded = inputs.detach().clone()
    for row, length in enumerate(lengths):
        padded[row, length:] = 50.0
    padded.requires_grad_(True)
    actual = run_padded(module, padded, lengths)
    assert torch.allclose(actual, expected, atol=1e-12)
    weights = list(module.parameters())
    expected_gradients = torch.autograd.grad(expected.pow(2).sum(), [inputs, *weights])
    actual_gradients = torch.autograd.grad(actual.pow(2).sum(), [padded, *weights])
    for expected_gradient, actual_gradient in zip(expected_gradients, actual_gradients):
        assert torch.allclose(actual_gradient, expected_gradient, atol=1e-10)
