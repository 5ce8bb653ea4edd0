"""Local winner-take-all blocks against Srivastava et al., "Compete to Compute" (2013)."""

from __future__ import annotations

import pytest
import torch

from nndsl.backend.modules.lwta import LocalWinnerTakeAll, LWTALinear


def test_only_each_blocks_maximum_passes() -> None:
    inputs = torch.tensor([[1.0, 3.0, -2.0, -5.0, 0.5, 0.4], [-1.0, -3.0, 7.0, 8.0, 0.0, -0.1]])
    outputs = LocalWinnerTakeAll(2)(inputs)
    expected = torch.tensor([[0.0, 3.0, -2.0, 0.0, 0.5, 0.0], [-1.0, 0.0, 0.0, 8.0, 0.0, 0.0]])
    assert torch.equal(outputs, expected)  # a negative winner passes unchanged (f(x) = x)
    outputs = LocalWinnerTakeAll(3)(inputs)
    expected = torch.tensor([[0.0, 3.0, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 7.0, 8.0, 0.0, 0.0]])
    assert torch.equal(outputs, expected)


def test_ties_go_to_the_lower_index() -> None:
    inputs = torch.tensor([[2.0, 2.0, 2.0, 1.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    outputs = LocalWinnerTakeAll(3)(inputs)
    expected = torch.tensor([[2.0, 0.0, 0.0, 0.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    assert torch.equal(outputs, expected)
    outputs = LocalWinnerTakeAll(2)(torch.tensor([[4.0, 4.0, -1.0, -1.0]]))
    assert torch.equal(outputs, torch.tensor([[4.0, 0.0, -1.0, 0.0]]))


def test_exactly_one_unit_per_block_is_marked_active_in_random_batches() -> None:
    torch.manual_seed(0)
    inputs = torch.randn(5, 7, 12)  # (batch, time, units): leading dimensions are kept
    outputs = LocalWinnerTakeAll(4)(inputs)
    assert outputs.shape == inputs.shape
    blocks, out_blocks = inputs.view(5, 7, 3, 4), outputs.view(5, 7, 3, 4)
    winners = blocks.argmax(-1, keepdim=True)
    assert torch.equal(out_blocks.gather(-1, winners), blocks.max(-1, keepdim=True).values)
    assert ((out_blocks != 0).sum(-1) == 1).all()


def test_gradients_reach_winners_only_and_are_exactly_zero_for_losers() -> None:
    torch.manual_seed(1)
    inputs = torch.randn(6, 8, requires_grad=True)
    upstream = torch.randn(6, 8)
    LocalWinnerTakeAll(2)(inputs).backward(upstream)
    blocks = inputs.detach().view(6, 4, 2)
    winner_mask = torch.nn.functional.one_hot(blocks.argmax(-1), 2).view(6, 8).bool()
    assert torch.equal(inputs.grad[winner_mask], upstream[winner_mask])
    assert (inputs.grad[~winner_mask] == 0.0).all()


def test_losers_of_a_linear_layer_get_no_weight_update() -> None:
    torch.manual_seed(2)
    layer = LWTALinear(in_features=3, blocks=2, block_size=2)
    inputs = torch.randn(1, 3)
    layer(inputs).sum().backward()
    with torch.no_grad():
        pre_activations = layer.linear(inputs).view(2, 2)
    losers = 1 - torch.nn.functional.one_hot(pre_activations.argmax(-1), 2).view(4)
    for unit in losers.nonzero().flatten().tolist():
        assert (layer.linear.weight.grad[unit] == 0).all() and layer.linear.bias.grad[unit] == 0
    assert layer(torch.randn(9, 3)).shape == (9, 4)


def test_a_width_that_is_not_a_multiple_of_the_block_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="divisible by the block size 3"):
        LocalWinnerTakeAll(3)(torch.randn(2, 7))
