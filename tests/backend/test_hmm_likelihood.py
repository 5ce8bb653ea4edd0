"""The HMM bank against brute-force path enumeration, the paper's closed-form gradients (Brown &
Hinton eq. 16-19) and padding; the relative density units against their definition."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from nndsl.backend.modules.hmm import HMMLikelihood, PairwiseRelative


def _random_bank(features: int, models: int, states: int, kind: str = "hmm",
                 seed: int = 0) -> HMMLikelihood:
    torch.manual_seed(seed)
    bank = HMMLikelihood(features, models, states, kind=kind, per_frame=False).double()
    with torch.no_grad():  # away from the symmetric start, so every parameter matters
        for parameter in bank.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return bank


def _gaussian_log_density(frame: torch.Tensor, mean: torch.Tensor,
                          log_variance: torch.Tensor) -> torch.Tensor:
    variance = log_variance.exp()
    return -0.5 * (
        ((frame - mean) ** 2 / variance).sum()
        + log_variance.sum()
        + len(frame) * math.log(2 * math.pi)
    )


def _path_posteriors(bank: HMMLikelihood, model: int, sequence: torch.Tensor):
    """log P(x) and the posterior over every state path, by enumerating all S^T paths."""
    initial = torch.softmax(bank.initial_logits[model], -1)
    transitions = torch.softmax(bank.transition_logits[model], -1)
    states = bank.states
    paths = list(itertools.product(range(states), repeat=len(sequence)))
    joint = []
    for path in paths:
        log_joint = initial[path[0]].log()
        for step, state in enumerate(path):
            if step:
                log_joint = log_joint + transitions[path[step - 1], state].log()
            log_joint = log_joint + _gaussian_log_density(sequence[step], bank.means[model, state],
                                                          bank.log_variances[model, state])
        joint.append(log_joint)
    joint = torch.stack(joint)
    return torch.logsumexp(joint, 0), paths, torch.softmax(joint, 0)


def test_log_likelihood_equals_the_sum_over_all_state_paths():
    bank = _random_bank(features=2, models=2, states=3)
    sequence = torch.randn(4, 2, dtype=torch.float64)
    scores = bank(sequence[None])[0]
    for model in range(2):
        expected, _, _ = _path_posteriors(bank, model, sequence)
        assert scores[model].item() == pytest.approx(expected.item(), rel=1e-10)


def test_per_frame_scores_divide_by_the_length():
    bank = _random_bank(features=3, models=2, states=2)
    sequence = torch.randn(1, 5, 3, dtype=torch.float64)
    total = bank(sequence)
    bank.per_frame = True
    assert torch.allclose(bank(sequence), total / 5)


def test_gradients_equal_the_posterior_expected_statistics_of_eq_16_to_19():
    bank = _random_bank(features=2, models=1, states=2, seed=3)
    sequence = torch.randn(4, 2, dtype=torch.float64)
    bank(sequence[None])[0, 0].backward()
    with torch.no_grad():
        _, paths, posterior = _path_posteriors(bank, 0, sequence)
        states = bank.states
        occupancy = torch.zeros(len(sequence), states, dtype=torch.float64)  # <δ(s_t, i)>
        # <δ(s_t-1,i) δ(s_t,j)>
        pairs = torch.zeros(len(sequence), states, states, dtype=torch.float64)
        for path, weight in zip(paths, posterior):
            for step, state in enumerate(path):
                occupancy[step, state] += weight
                if step:
                    pairs[step, path[step - 1], state] += weight
        initial = torch.softmax(bank.initial_logits[0], -1)
        transitions = torch.softmax(bank.transition_logits[0], -1)
        means, variances = bank.means[0], bank.log_variances[0].exp()
        # eq. 16: Σ_t [<δ δ> - <δ(s_t-1, i)> a_ij]; eq. 17: <δ(s_1, i)> - π_i
        transition_gradient = (pairs[1:] - occupancy[:-1, :, None] * transitions).sum(0)
        initial_gradient = occupancy[0] - initial
        difference = sequence[:, None, :] - means[None]  # [T, S, F]
        # eq. 18: Σ_t <δ(s_t, i)> (x_td - μ_id) / v_id; eq. 19: ½ Σ_t <δ> [(x - μ)² / v - 1]
        mean_gradient = (occupancy[:, :, None] * difference / variances).sum(0)
        variance_gradient = 0.5 * (occupancy[:, :, None] * (difference ** 2 / variances - 1)).sum(0)
    assert torch.allclose(bank.transition_logits.grad[0], transition_gradient, atol=1e-10)
    assert torch.allclose(bank.initial_logits.grad[0], initial_gradient, atol=1e-10)
    assert torch.allclose(bank.means.grad[0], mean_gradient, atol=1e-10)
    assert torch.allclose(bank.log_variances.grad[0], variance_gradient, atol=1e-10)


@pytest.mark.parametrize("kind", ["hmm", "mixture"])
def test_padding_changes_neither_scores_nor_gradients(kind):
    bank = _random_bank(features=3, models=2, states=3, kind=kind)
    bank.per_frame = True
    short, long = torch.randn(3, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    alone = torch.cat([bank(short[None]), bank(long[None])])
    alone.sum().backward()
    gradients_alone = [parameter.grad.clone() for parameter in bank.parameters()]
    bank.zero_grad()
    padded = torch.zeros(2, 6, 3, dtype=torch.float64)
    padded[0, :3], padded[1] = short, long
    padded[0, 3:] = 100.0  # padding that would dominate the score if it were read
    batched = bank(padded, torch.tensor([3, 6]))
    batched.sum().backward()
    assert torch.allclose(batched, alone, atol=1e-10)
    for parameter, expected in zip(bank.parameters(), gradients_alone):
        assert torch.allclose(parameter.grad, expected, atol=1e-10)


def test_mixture_scores_frames_independently():
    bank = _random_bank(features=2, models=1, states=3, kind="mixture")
    sequence = torch.randn(4, 2, dtype=torch.float64)
    weights = torch.softmax(bank.initial_logits[0], -1)
    expected = sum(torch.logsumexp(torch.stack([
        weights[state].log() + _gaussian_log_density(frame, bank.means[0, state],
                                                     bank.log_variances[0, state])
        for state in range(3)]), 0) for frame in sequence)
    assert bank(sequence[None])[0, 0].item() == pytest.approx(expected.item(), rel=1e-10)


def test_long_sequences_stay_finite():
    bank = HMMLikelihood(24, models=3, states=4)
    scores = bank(10 * torch.randn(2, 400, 24))
    assert torch.isfinite(scores).all()


def test_pairwise_relative_units_compare_every_pair_once():
    scores = torch.tensor([[0.0, 1.0, -2.0, 0.5]])
    units = PairwiseRelative(4)(scores)
    expected = [
        torch.sigmoid(scores[0, m] - scores[0, n]) for m in range(4) for n in range(m + 1, 4)
    ]
    assert units.shape == (1, 6)
    assert torch.allclose(units[0], torch.stack(expected))


def test_forward_backward_gradients_pass_gradcheck_on_padded_batches():
    from nndsl.backend.modules.hmm_forward import hmm_log_likelihood

    torch.manual_seed(5)
    log_initial = torch.log_softmax(torch.randn(2, 3, dtype=torch.float64), -1).requires_grad_()
    transitions = torch.softmax(torch.randn(2, 3, 3, dtype=torch.float64), -1).requires_grad_()
    emissions = (3 * torch.randn(2, 5, 2, 3, dtype=torch.float64)).requires_grad_()
    valid = torch.arange(5)[None, :] < torch.tensor([5, 2])[:, None]
    assert torch.autograd.gradcheck(lambda *values: hmm_log_likelihood(*values, valid),
                                    (log_initial, transitions, emissions))
