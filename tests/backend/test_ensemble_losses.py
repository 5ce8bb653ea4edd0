"""Tests for sMCL's oracle loss, the independent loss, prediction combiners and oracle metrics."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional

from nndsl.backend.ensemble.losses import (
    assignment_counts,
    independent_loss,
    majority_vote,
    mean_probabilities,
    oracle_accuracy,
    oracle_error,
    oracle_loss,
    oracle_selection,
    per_member_cross_entropy,
)
from nndsl.backend.ensemble.members import Ensemble


def leaf_losses(values: list[list[float]]) -> torch.Tensor:
    return torch.tensor(values, requires_grad=True)  # [M, B]


def test_k1_is_the_mean_best_member_loss_and_only_winners_get_gradient() -> None:
    losses = leaf_losses([[0.5, 2.0, 1.0], [0.7, 0.1, 3.0], [0.9, 0.3, 0.2]])
    loss, assignment = oracle_loss(losses, k=1)
    assert assignment.tolist() == [0, 1, 2]
    torch.testing.assert_close(loss, torch.tensor((0.5 + 0.1 + 0.2) / 3))
    loss.backward()
    expected = torch.zeros(3, 3)
    expected[assignment, torch.arange(3)] = 1 / 3
    assert torch.equal(losses.grad, expected)  # exactly zero for every non-winner


def test_non_winners_with_infinite_loss_leak_neither_value_nor_gradient() -> None:
    losses = leaf_losses([[0.5, float("inf")], [float("inf"), 0.25]])
    loss, _ = oracle_loss(losses, k=1)
    loss.backward()
    torch.testing.assert_close(loss, torch.tensor(0.375))
    assert torch.equal(losses.grad, torch.tensor([[0.5, 0.0], [0.0, 0.5]]))


def test_k_equal_to_members_is_the_classical_ensemble_loss() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 16, 5, generator=generator, requires_grad=True)  # [M, B, C]
    targets = torch.randint(0, 5, (16,), generator=generator)
    losses = per_member_cross_entropy(logits, targets)
    # Classical ensemble: every member trained on its own mean cross-entropy, summed.
    classical = sum(functional.cross_entropy(logits[member], targets) for member in range(4))
    torch.testing.assert_close(oracle_loss(losses, k=4)[0], classical)
    torch.testing.assert_close(independent_loss(losses), classical)
    oracle_gradient = torch.autograd.grad(oracle_loss(losses, k=4)[0], logits)[0]
    classical_gradient = torch.autograd.grad(classical, logits)[0]
    torch.testing.assert_close(oracle_gradient, classical_gradient)


def test_k_between_selects_the_k_lowest_members() -> None:
    losses = leaf_losses([[4.0, 0.0], [1.0, 3.0], [2.0, 1.0], [3.0, 2.0]])
    loss, assignment = oracle_loss(losses, k=2)
    loss.backward()
    assert assignment.tolist() == [1, 0]
    torch.testing.assert_close(loss, torch.tensor(((1 + 2) + (0 + 1)) / 2))
    assert torch.equal(losses.grad != 0, torch.tensor([[0, 1], [1, 0], [1, 1], [0, 0]]).bool())


def test_ties_go_to_the_lowest_member_index_deterministically() -> None:
    losses = torch.tensor([[1.0, 2.0, 0.5], [1.0, 0.5, 0.5], [0.5, 0.5, 0.5]])  # [M=3, B=3]
    for _ in range(3):
        assert oracle_loss(losses, k=1)[1].tolist() == [2, 1, 0]
        assert oracle_selection(losses, k=2).T.tolist() == [
            [True, False, True],  # losses 1.0, 1.0, 0.5: member 2, then the lower of 0 and 1
            [False, True, True],
            [True, True, False],  # three-way tie: the two lowest indices
        ]
    uniform = torch.ones(5, 64)
    assert torch.equal(oracle_loss(uniform, k=1)[1], torch.zeros(64, dtype=torch.long))


def test_k_outside_the_member_range_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="k must lie in"):
        oracle_loss(torch.ones(3, 2), k=4)
    with pytest.raises(ValueError, match="k must lie in"):
        oracle_loss(torch.ones(3, 2), k=0)


def test_per_member_cross_entropy_accepts_shared_and_per_member_targets() -> None:
    logits = torch.randn(3, 6, 4)
    shared_targets = torch.randint(0, 4, (6,))
    member_targets = torch.randint(0, 4, (3, 6))
    for targets in (shared_targets, member_targets):
        losses = per_member_cross_entropy(logits, targets)
        for member in range(3):
            expected = functional.cross_entropy(
                logits[member], targets.expand(3, 6)[member], reduction="none"
            )
            torch.testing.assert_close(losses[member], expected)


def test_combiners_and_oracle_metrics() -> None:
    # 3 members, 4 examples, 3 classes; predicted classes per member below.
    predictions = torch.tensor([[0, 1, 2, 0], [0, 2, 1, 1], [1, 2, 0, 2]])  # [M, B]
    logits = functional.one_hot(predictions, 3).float() * 5  # [M, B, C]
    targets = torch.tensor([0, 0, 1, 2])
    assert majority_vote(logits).tolist() == [0, 2, 0, 0]  # examples 2, 3: three-way ties -> 0
    probabilities = mean_probabilities(logits)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(4))
    torch.testing.assert_close(probabilities, logits.softmax(-1).mean(0))
    # Example 1: nobody predicts 0; others have one correct member.
    assert oracle_accuracy(logits, targets).item() == pytest.approx(0.75)
    assert oracle_error(logits, targets).item() == pytest.approx(0.25)


def test_assignment_counts_give_the_class_by_member_matrix() -> None:
    assignment = torch.tensor([0, 1, 1, 2, 0])
    targets = torch.tensor([1, 0, 0, 1, 1])
    counts = assignment_counts(assignment, targets, members=3, classes=2)
    assert counts.tolist() == [[0, 2, 0], [2, 0, 1]]


def test_smcl_members_specialise_on_a_two_branch_regression(one_thread: None) -> None:
    """Lee et al.'s setting in miniature: y = +x^2 or -x^2 at random; one model learns the mean
    (about zero), two sMCL members learn one branch each, so the oracle error nearly vanishes."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(256, 1, generator=generator) * 2 - 1  # [N, 1]
    signs = torch.randint(0, 2, (256, 1), generator=generator) * 2 - 1
    targets = signs * inputs.square()  # [N, 1]

    def member(index: int) -> nn.Module:
        torch.manual_seed(index)
        return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))

    ensemble = Ensemble(member, 2)
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=0.02)
    for _ in range(300):
        optimizer.zero_grad()
        errors = (ensemble(inputs) - targets).square().squeeze(-1)  # [M, N]
        loss, _ = oracle_loss(errors, k=1)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        errors = (ensemble(inputs) - targets).square().squeeze(-1)  # [M, N]
    oracle_mean_squared_error = errors.min(0).values.mean().item()
    single_model_error = targets.square().mean().item()  # predicting the mean, zero
    assert oracle_mean_squared_error < 0.05 * single_model_error
