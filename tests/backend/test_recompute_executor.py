"""The recompute executor: gradients equal plain BPTT, counted steps and bytes equal the plan."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nndsl.backend.recompute.layer import RecomputedRecurrent
from nndsl.plan.memory.recompute import plan_recompute, smallest_feasible_units

BATCH, LENGTH, FEATURES, HIDDEN = 3, 23, 4, 5
REFERENCES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# Tight budgets, in units of alpha = 5 (any alpha gives a valid schedule for these tests).
BUDGETS = [("optimal", 12), ("hidden", 3), ("internal", 11), ("optimal", 1), ("sqrt", 60),
           ("none", 200)]


pytestmark = pytest.mark.usefixtures("one_thread")


def build(cell_type: str, policy: str, memory: int, bidirectional: bool = False,
          dropout: float = 0.0, alpha: int = 5):
    torch.manual_seed(3)
    schedule = plan_recompute(LENGTH, memory, policy, alpha)  # type: ignore[arg-type]
    layer = RecomputedRecurrent(cell_type, FEATURES, HIDDEN, schedule,  # type: ignore[arg-type]
                                bidirectional=bidirectional, dropout=dropout)
    reference = REFERENCES[cell_type](FEATURES, HIDDEN, batch_first=True,
                                      bidirectional=bidirectional)
    with torch.no_grad():
        for direction, cell in enumerate(layer.cells):
            suffix = "_reverse" if direction else ""
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l0{suffix}").copy_(getattr(cell, name))
    return layer, reference


def gradients(outputs, final, weights, inputs, initial, parameters):
    """A loss touching every output and the final state, differentiated w.r.t. everything."""
    finals = final if isinstance(final, tuple) else (final,)
    loss = (outputs * weights).sum() + sum((part ** 2).sum() for part in finals)
    return torch.autograd.grad(loss, [inputs, *initial, *parameters])


def random_case(directions: int, state_size: int):
    generator = torch.Generator().manual_seed(11)
    inputs = torch.randn(BATCH, LENGTH, FEATURES, generator=generator, requires_grad=True)
    initial = tuple(torch.randn(directions, BATCH, HIDDEN, generator=generator,
                                requires_grad=True) for _ in range(state_size))
    weights = torch.randn(BATCH, LENGTH, HIDDEN * directions, generator=generator)
    return inputs, initial, weights


def assert_close(actual, expected):
    for left, right in zip(actual, expected, strict=True):
        torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-4)


# Every cell / direction / lengths combination with one budget each (cycling through them),
# plus every budget on the hardest combination.
COMBINATIONS = [(cell, both, lengths) for cell in ("lstm", "gru", "rnn")
                for both in (False, True) for lengths in (False, True)]
CASES = [(*combination, *BUDGETS[index % len(BUDGETS)])
         for index, combination in enumerate(COMBINATIONS)]
CASES += [("lstm", True, True, *budget) for budget in BUDGETS if budget != BUDGETS[3]]


@pytest.mark.parametrize("cell_type,bidirectional,variable_lengths,policy,memory", CASES)
def test_gradients_equal_plain_bptt(cell_type, bidirectional, variable_lengths, policy, memory):
    layer, reference = build(cell_type, policy, memory, bidirectional)
    directions, state_size = (2 if bidirectional else 1), (2 if cell_type == "lstm" else 1)
    inputs, initial, weights = random_case(directions, state_size)
    lengths = torch.tensor([LENGTH, 9, 1]) if variable_lengths else None
    state = initial if cell_type == "lstm" else initial[0]

    outputs, final = layer(inputs, lengths=lengths, initial_state=state)
    ours = gradients(outputs, final, weights, inputs, initial, list(layer.parameters()))

    if variable_lengths:  # the independent reference: cuDNN-style packed sequences
        packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
        packed_outputs, expected_final = reference(packed, state)
        expected_outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True,
                                                  total_length=LENGTH)
    else:
        expected_outputs, expected_final = reference(inputs, state)
    theirs = gradients(expected_outputs, expected_final, weights, inputs, initial,
                       list(reference.parameters()))
    torch.testing.assert_close(outputs, expected_outputs, atol=1e-5, rtol=1e-4)
    assert_close(ours, theirs)
    assert layer.statistics.forward_steps == directions * layer.schedule.predicted_forward_steps


def plain_loop_with_masks(layer: RecomputedRecurrent, inputs, initial, seed):
    """Plain autograd BPTT through the same cells, dropping the units the layer's masks drop."""
    outputs, finals = [], []
    for direction, cell in enumerate(layer.cells):
        state = tuple(part[direction] for part in initial)
        steps = range(LENGTH) if direction == 0 else range(LENGTH - 1, -1, -1)
        collected = [None] * LENGTH
        for step, time in enumerate(steps, start=1):
            if layer.cell_type == "lstm":
                state = cell(inputs[:, time], state)
            else:
                state = (cell(inputs[:, time], state[0]),)
            mask = layer.output_dropout_mask(seed, direction, step, state[0])
            collected[time] = state[0] * mask
        outputs.append(torch.stack(collected, dim=1))
        finals.append(state)
    final = tuple(torch.stack([f[index] for f in finals]) for index in range(len(initial)))
    return torch.cat(outputs, dim=-1), final


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
@pytest.mark.parametrize("policy,memory", [("optimal", 12), ("hidden", 2), ("sqrt", 60)])
def test_dropout_masks_are_replayed_in_recomputed_steps(cell_type, policy, memory):
    layer, _ = build(cell_type, policy, memory, bidirectional=True, dropout=0.4)
    layer.train()
    state_size = 2 if cell_type == "lstm" else 1
    inputs, initial, weights = random_case(2, state_size)
    state = initial if cell_type == "lstm" else initial[0]
    outputs, final = layer(inputs, initial_state=state)
    ours = gradients(outputs, final, weights, inputs, initial, list(layer.parameters()))
    expected_outputs, expected_final = plain_loop_with_masks(layer, inputs, initial,
                                                             layer.last_dropout_seed)
    theirs = gradients(expected_outputs, expected_final, weights, inputs, initial,
                       list(layer.parameters()))
    torch.testing.assert_close(outputs, expected_outputs, atol=1e-5, rtol=1e-4)
    assert_close(ours, theirs)
    dropped = (outputs == 0).float().mean().item()
    assert 0.25 < dropped < 0.55  # dropout really happened


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("policy", ["optimal", "hidden", "internal", "sqrt", "none"])
def test_measured_bytes_stay_within_predicted_units(cell_type, dropout, policy):
    probe, _ = build(cell_type, "none", 10_000, dropout=dropout)
    probe.train()
    hidden_bytes, internal_bytes = probe.measure_state_bytes(BATCH, with_lengths=True)
    alpha = -(-internal_bytes // hidden_bytes)
    memory = max(smallest_feasible_units(LENGTH, policy, alpha), 2 * alpha)
    layer, _ = build(cell_type, policy, memory, dropout=dropout, alpha=alpha)
    layer.train()
    inputs = torch.randn(BATCH, LENGTH, FEATURES, requires_grad=True)
    outputs, _ = layer(inputs, lengths=torch.tensor([LENGTH, 4, 17]))
    outputs.sum().backward()
    schedule = layer.schedule
    assert 0 < layer.statistics.peak_stored_bytes <= schedule.predicted_peak_units * hidden_bytes
    assert layer.statistics.forward_steps == schedule.predicted_forward_steps
    assert layer.statistics.stored_bytes == 0  # everything released after backward


def test_less_memory_means_fewer_bytes_and_more_steps():
    probe, _ = build("lstm", "none", 10_000)
    hidden_bytes, internal_bytes = probe.measure_state_bytes(BATCH)
    alpha = -(-internal_bytes // hidden_bytes)
    measured = []
    for memory in (1, 8, 30, 200):
        layer, _ = build("lstm", "optimal", memory, alpha=alpha)
        outputs, _ = layer(torch.randn(BATCH, LENGTH, FEATURES))
        outputs.sum().backward()
        measured.append((layer.statistics.peak_stored_bytes, layer.statistics.forward_steps))
    assert [b for b, _ in measured] == sorted(b for b, _ in measured)
    assert [s for _, s in measured] == sorted((s for _, s in measured), reverse=True)
    assert measured[0][1] == LENGTH * (LENGTH + 1) // 2 and measured[-1][1] == LENGTH


def test_inference_stores_nothing_and_matches_training_outputs():
    layer, reference = build("lstm", "optimal", 12, bidirectional=True)
    inputs = torch.randn(BATCH, LENGTH, FEATURES)
    with torch.no_grad():
        outputs, _ = layer(inputs)
        expected, _ = reference(inputs)
    torch.testing.assert_close(outputs, expected, atol=1e-5, rtol=1e-4)
    assert layer.statistics.peak_stored_bytes == 0
    assert layer.statistics.forward_steps == 2 * LENGTH


def test_other_lengths_are_replanned_with_the_same_budget():
    layer, reference = build("gru", "optimal", 12)
    inputs = torch.randn(BATCH, 9, FEATURES, requires_grad=True)
    outputs, _ = layer(inputs)
    (outputs ** 2).sum().backward()
    expected = torch.autograd.grad((reference(inputs)[0] ** 2).sum(), inputs)[0]
    torch.testing.assert_close(inputs.grad, expected, atol=1e-5, rtol=1e-4)
    replanned = plan_recompute(9, 12, "optimal", 5)
    assert layer.statistics.forward_steps == replanned.predicted_forward_steps


def test_infeasible_budget_raises():
    with pytest.raises(ValueError, match="needs at least"):
        plan_recompute(LENGTH, 0, "optimal", 5)
    layer, _ = build("lstm", "none", smallest_feasible_units(LENGTH, "none", 5))
    with pytest.raises(ValueError, match="needs at least"):
        layer(torch.randn(BATCH, LENGTH + 5, FEATURES, requires_grad=True))
