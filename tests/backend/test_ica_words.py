"""The ICA + attention pipeline's parts: the mixed_words source, the log_mel layer and the error
that reaches the unmixing matrices through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nndsl.api import compile_spec
from nndsl.backend.adaptation import adaptation_loss
from nndsl.backend.graph_module import GraphModule
from nndsl.data.mixed_words import MixedWords, MixedWordsParams

ROOT = Path(__file__).resolve().parents[2]


def test_mixed_words_trains_clean_and_tests_noisy():
    params = MixedWordsParams(classes=3, train_per_class=2, test_per_class=2, snr=5.0, frames=4)
    arrays = MixedWords().load(params, Path("."), seed=0)
    assert arrays.inputs.shape == (12, 4, 65, 2, 2)
    assert list(arrays.test_indices) == list(range(6, 12))
    clean = MixedWords().load(params.model_copy(update={"snr": None}), Path("."), seed=0)
    assert np.array_equal(clean.inputs[:6], arrays.inputs[:6])  # the training part is clean
    assert not np.allclose(clean.inputs[6:], arrays.inputs[6:])  # the test part is mixed


def test_the_decision_error_reaches_the_unmixing_matrices_through_the_features():
    compiled = compile_spec(ROOT / "specs/ica_attention_words.yaml",
                            ["data.train_per_class=1", "data.test_per_class=1"])
    assert compiled.ok, compiled.diagnostics
    torch.manual_seed(0)
    network = GraphModule(compiled.graph)
    unmix = network.layer("unmix")
    unmix.independence = False  # only the attention term: zero unless the error gets through
    inputs = torch.randn(1, 16, 65, 2, 2)
    output, _ = network(inputs)
    assert output.shape == (1, 10)
    adaptation_loss(output).backward()
    assert unmix.weight.grad is not None and unmix.weight.grad.abs().sum() > 0
    # log_mel reads channel 0 only: the row of W producing channel 1 gets no attention error.
    assert torch.all(unmix.weight.grad[:, 1] == 0)
