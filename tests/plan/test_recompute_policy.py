"""Recompute schedules: their action lists, memory envelope, feasibility and budget helpers."""

from __future__ import annotations

import math

import pytest

from nndsl.plan.memory.recompute import (
    RecomputeSchedule,
    plain_bptt_bytes,
    plan_recompute,
    smallest_feasible_units,
    units_for_budget,
)

POLICIES = ["optimal", "hidden", "internal", "sqrt", "none"]


def replay(schedule: RecomputeSchedule) -> dict[str, object]:
    """Walks the actions independently of the planner's own check, as an executor would."""
    stored, kept, gradient, register = {0}, set(), schedule.sequence_length, 0
    forward_steps, first_pass_steps = 0, []
    for index, action in enumerate(schedule.actions):
        if action.kind in ("forward", "keep"):
            assert action.start in stored | kept or action.start == register, action
            steps = list(range(action.start + 1, action.stop + 1))
            forward_steps += len(steps)
            if index < schedule.first_pass_length:
                first_pass_steps += steps
            if action.kind == "keep":
                assert len(steps) == 1
                kept.add(action.stop)
            register = action.stop
        elif action.kind == "backward":
            assert index >= schedule.first_pass_length
            assert action.stop == gradient and action.stop in kept, action
            kept.remove(action.stop)
            gradient -= 1
        elif action.kind == "save_hidden":
            assert action.start == register
            stored.add(action.start)
        else:
            stored.remove(action.start)
    return {"forward_steps": forward_steps, "first_pass": first_pass_steps,
            "gradient": gradient, "leftover": (stored - {0}) | kept}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("length,alpha", [(1, 5), (2, 1), (13, 2), (40, 5), (97, 3)])
def test_actions_back_propagate_everything_at_the_predicted_cost(policy, length, alpha):
    memory = max(smallest_feasible_units(length, policy, alpha), length // 3)
    schedule = plan_recompute(length, memory, policy, alpha)
    walked = replay(schedule)
    assert walked["forward_steps"] == schedule.predicted_forward_steps
    assert walked["first_pass"] == list(range(1, length + 1))  # outputs come from one pass
    assert walked["gradient"] == 0 and not walked["leftover"]
    assert schedule.predicted_peak_units <= schedule.memory_units + schedule.alpha


@pytest.mark.parametrize("policy", ["optimal", "hidden", "internal"])
def test_memory_envelope_holds_for_every_budget(policy):
    for memory in range(1, 130, 7):
        schedule = plan_recompute(50, memory, policy, 4)
        assert schedule.predicted_peak_units <= memory + 4
        if policy == "hidden":
            assert schedule.most_kept_cores == 1 and schedule.most_hidden_states <= memory - 1
        if policy == "internal":
            assert schedule.most_hidden_states == 0
            assert schedule.most_kept_cores <= math.ceil(memory / 4)


def test_plain_and_sqrt_costs():
    assert plan_recompute(100, 10_000, "none", 5).predicted_forward_steps == 100
    # sqrt: 10 segments of 10, the last one kept from the first pass: 100 + 90.
    assert plan_recompute(100, 10_000, "sqrt", 5).predicted_forward_steps == 190
    assert plan_recompute(100, 10_000, "sqrt", 5).most_hidden_states == 9


def test_optimal_is_the_paper_headline_at_five_percent():
    # 5% of plain BPTT at t = 1000, alpha = 5: 250 units, i.e. 50 internal states.
    schedule = plan_recompute(1000, 250, "optimal", 5)
    assert schedule.predicted_forward_steps == 1950
    assert schedule.predicted_peak_units <= 255
    assert plan_recompute(1000, 250, "internal", 5).predicted_forward_steps == 1950
    assert plan_recompute(1000, 50, "hidden", 5).predicted_forward_steps == 2948


def test_eq10_variant_plans_and_stays_in_envelope():
    eq7 = plan_recompute(40, 30, "optimal", 4)
    eq10 = plan_recompute(40, 30, "optimal", 4, shared_input_units=3)
    assert eq10.predicted_forward_steps <= eq7.predicted_forward_steps
    assert eq10.shared_input_units == 3 and eq10.predicted_peak_units <= 34
    assert replay(eq10)["forward_steps"] == eq10.predicted_forward_steps


@pytest.mark.parametrize("policy", POLICIES)
def test_smallest_feasible_units_is_the_boundary(policy):
    smallest = smallest_feasible_units(30, policy, 3)
    plan_recompute(30, smallest, policy, 3)
    with pytest.raises(ValueError, match="needs at least"):
        plan_recompute(30, smallest - 1, policy, 3)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        plan_recompute(0, 10, "optimal", 3)
    with pytest.raises(ValueError):
        plan_recompute(10, 10, "optimal", 0)
    with pytest.raises(ValueError):
        plan_recompute(10, 10, "optimal", 4, shared_input_units=2)
    with pytest.raises(ValueError):
        plan_recompute(10, 10, "fastest", 4)  # type: ignore[arg-type]


def test_units_for_budget_reserves_the_workspace_core():
    # LSTM, batch 64, hidden 256, float32: h and c = 131072 bytes; a core ~4.5 hidden states.
    hidden, internal = 131_072, 589_824
    budget = plain_bptt_bytes(1000, internal) * 5 // 100
    units, alpha = units_for_budget(budget, hidden, internal)
    assert alpha == 5
    assert units == budget // hidden - 5
    assert plain_bptt_bytes(1000, internal) == 1000 * internal
    assert units_for_budget(100, 100, 50) == (0, 1)  # alpha never below 1; budget too small
    schedule = plan_recompute(1000, units, "optimal", alpha)
    assert schedule.predicted_peak_units * hidden <= budget


def test_schedules_are_frozen():
    schedule = plan_recompute(10, 5, "optimal", 2)
    with pytest.raises(AttributeError):
        schedule.memory_units = 3  # type: ignore[misc]
