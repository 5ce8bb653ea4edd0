"""Plan stage: the recompute schedule of a recurrent layer under a memory budget.

In: a sequence length, a budget in hidden-state units (or bytes, through ``units_for_budget``)
and a policy. Out: a frozen ``RecomputeSchedule`` holding the explicit list of actions the
backend executes (forward runs, stored hidden states, kept cores, one-step backward passes),
the forward executions it will count and the most memory units it will hold. Pure Python.

Policies: ``"hidden"`` (BPTT-HSM), ``"internal"`` (BPTT-ISM), ``"optimal"`` (BPTT-MSM), all
from Gruslys et al. 2016; ``"sqrt"`` (Chen et al.: sqrt(t) segments, their start states stored,
each segment recomputed once); ``"none"`` (plain BPTT: every core kept).

Memory accounting. One unit is a hidden state; a kept core (an internal state: what backward
needs for one step, with its input and output states) is ``alpha`` units, or ``alpha - 1`` while
its input state is held anyway (stored, the initial state, or the previous kept core's output).
The initial state always counts 1. Besides the ``memory_units`` the dynamic programmes account
for, the executor may hold one workspace core (the paper's "one RNN core is always available"),
so every feasible schedule keeps ``predicted_peak_units <= memory_units + alpha``;
``units_for_budget`` reserves that core. ``"internal"`` turns units into
``ceil(memory_units / alpha)`` slots, the last core being the workspace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

from nndsl.plan.memory.recompute_costs import ConvexCosts
from nndsl.plan.memory.recompute_mixed import MixedCosts
# The schedule's records are part of the plan (`nndsl.plan.plan`); the backend imports them here.
from nndsl.plan.plan import RecomputeAction, RecomputePolicy, RecomputeSchedule


def plan_recompute(sequence_length: int, memory_units: int, policy: RecomputePolicy,
                   alpha: int, *, shared_input_units: int | None = None) -> RecomputeSchedule:
    """Plans the cheapest schedule of ``policy`` that fits ``memory_units``.

    Args:
        sequence_length: steps of the sequence (>= 1).
        memory_units: hidden-state units available (see the module docstring).
        policy: which family of schedules to search.
        alpha: units of one internal state (>= 1).
        shared_input_units: beta of eq. 10 (``alpha - 1`` or ``alpha``); ``None`` = ``alpha``
            (eq. 7, the convention of the paper's reference numbers).

    Returns:
        The schedule; its cost is optimal within the policy's family.

    Raises:
        ValueError: on invalid arguments or when the budget is below
            ``smallest_feasible_units``.
    """
    beta = alpha if shared_input_units is None else shared_input_units
    if sequence_length < 1 or alpha < 1:
        raise ValueError(f"sequence_length and alpha must be >= 1, got {sequence_length}, "
                         f"{alpha}")
    if beta not in (alpha - 1, alpha) or beta < 1:
        raise ValueError(f"shared_input_units must be alpha - 1 or alpha (>= 1), got {beta}")
    if policy not in ("optimal", "hidden", "internal", "sqrt", "none"):
        raise ValueError(f"unknown recompute policy {policy!r}")
    smallest = smallest_feasible_units(sequence_length, policy, alpha)
    if memory_units < smallest:
        raise ValueError(
            f"policy {policy!r} cannot back-propagate {sequence_length} steps in "
            f"{memory_units} hidden-state units (alpha={alpha}); it needs at least {smallest}")
    return _plan(sequence_length, memory_units, policy, alpha, beta)


def smallest_feasible_units(sequence_length: int, policy: RecomputePolicy, alpha: int) -> int:
    """The fewest ``memory_units`` for which ``plan_recompute`` succeeds.

    HSM, ISM and MSM fit in 1 unit (at quadratic cost); ``sqrt`` and ``none`` hold a fixed
    amount, whatever the budget.
    """
    if policy in ("sqrt", "none"):
        actions = _sqrt_actions(sequence_length) if policy == "sqrt" else _all_kept_actions(
            sequence_length)
        return max(1, _simulate(actions, sequence_length, alpha)[1] - alpha)
    return 1


def units_for_budget(budget_bytes: int, hidden_state_bytes: int,
                     internal_state_bytes: int) -> tuple[int, int]:
    """Converts a byte budget into (memory_units, alpha), reserving the workspace core.

    Args:
        budget_bytes: bytes the layer may hold for its backward pass.
        hidden_state_bytes: bytes of one hidden state (h, or h and c for an LSTM).
        internal_state_bytes: bytes of one step's internal state, input and output states
            included (Definition 3 of the paper).

    Returns:
        ``memory_units`` (may be < 1 when the budget cannot hold even the workspace; planning
        then raises) and ``alpha = max(1, ceil(internal / hidden))``.
    """
    alpha = max(1, -(-internal_state_bytes // hidden_state_bytes))
    return budget_bytes // hidden_state_bytes - alpha, alpha


def plain_bptt_bytes(sequence_length: int, internal_state_bytes: int) -> int:
    """Bytes plain BPTT holds in the paper's accounting: one internal state per step.

    Percentage budgets ("5%") are fractions of this. Autograd actually shares each step's input
    state with the previous step's output, so it holds somewhat less.
    """
    return sequence_length * internal_state_bytes


@lru_cache(maxsize=64)
def _plan(sequence_length: int, memory_units: int, policy: RecomputePolicy, alpha: int,
          beta: int) -> RecomputeSchedule:
    length = sequence_length
    if policy == "hidden":
        hidden = ConvexCosts("hidden", length, memory_units)
        predicted, actions = hidden.cost(length, memory_units), _hidden_actions(
            hidden, length, memory_units)
    elif policy == "internal":
        slots = -(-memory_units // alpha)
        internal = ConvexCosts("internal", length, slots)
        predicted, actions = internal.cost(length, slots), _internal_actions(
            internal, length, slots)
    elif policy == "optimal":
        mixed = MixedCosts(length, memory_units, alpha, beta)
        predicted = mixed.top_cost
        if mixed.certified == "hidden":
            actions = _hidden_actions(mixed.hidden, length, memory_units)
        elif mixed.certified == "internal":
            actions = _internal_actions(mixed.internal, length, mixed.internal_slots)
        else:
            actions = _mixed_actions(mixed, length, memory_units)
    elif policy == "sqrt":
        actions = _sqrt_actions(length)
        predicted = sum(a.stop - a.start for a in actions if a.kind in ("forward", "keep"))
    else:
        actions, predicted = _all_kept_actions(length), length
    executed, peak, most_hidden, most_kept, first_pass = _simulate(actions, length, alpha)
    if executed != predicted:  # the action list is the policy: a mismatch is a planner bug
        raise RuntimeError(f"planner bug: {policy} actions run {executed} forward steps, "
                           f"costs predict {predicted}")
    return RecomputeSchedule(policy, length, memory_units, alpha, beta, predicted, peak,
                             most_hidden, most_kept, tuple(actions), first_pass)


def _run_then_keep(actions: list[RecomputeAction], start: int, step: int) -> None:
    """Forward from ``start`` to ``step - 1`` without graphs, then keep step ``step``."""
    if step - 1 > start:
        actions.append(RecomputeAction("forward", start, step - 1))
    actions.append(RecomputeAction("keep", step - 1, step))


def _quadratic(actions: list[RecomputeAction], start: int, length: int) -> None:
    """Memory of the start state only: rerun from it before every backward step."""
    for step in range(start + length, start, -1):
        _run_then_keep(actions, start, step)
        actions.append(RecomputeAction("backward", step - 1, step))


def _push_hidden(actions: list[RecomputeAction], start: int, position: int) -> None:
    actions.append(RecomputeAction("forward", start, position))
    actions.append(RecomputeAction("save_hidden", position, position))


# The generators below walk the divide-and-conquer recursion with an explicit stack (the left
# chain can be ~t deep). A task is (start, length, memory) or a closing action to emit later;
# each policy's `expand` emits a task's first actions and returns the tasks it splits into, in
# the order they are pushed (the last runs first).
_Task = tuple[int, int, int] | RecomputeAction


def _walk(length: int, memory: int,
          expand: Callable[[list[RecomputeAction], int, int, int], list[_Task]],
          ) -> list[RecomputeAction]:
    actions: list[RecomputeAction] = []
    stack: list[_Task] = [(0, length, memory)]
    while stack:
        task = stack.pop()
        if isinstance(task, RecomputeAction):
            actions.append(task)
        else:
            stack += expand(actions, *task)
    return actions


def _split_at_hidden(actions: list[RecomputeAction], start: int, size: int, units: int,
                     split: int) -> list[_Task]:
    """Store the hidden state at `start + split` (one unit)."""
    _push_hidden(actions, start, start + split)
    # Right part first (fewer units), release its start, then the left part with all units.
    return [(start, split, units),
            RecomputeAction("free_hidden", start + split, start + split),
            (start + split, size - split, units - 1)]


def _split_at_internal(actions: list[RecomputeAction], start: int, size: int, units: int,
                       split: int, cost: int) -> list[_Task]:
    """Keep the internal state of step `start + split` (`cost` units) and backpropagate it."""
    _run_then_keep(actions, start, start + split)
    return [(start, split - 1, units),
            RecomputeAction("backward", start + split - 1, start + split),
            (start + split, size - split, units - cost)]


def _hidden_actions(costs: ConvexCosts, length: int, memory: int) -> list[RecomputeAction]:
    def expand(actions: list[RecomputeAction], start: int, size: int, slots: int) -> list[_Task]:
        if size == 1 or slots == 1:
            _quadratic(actions, start, size)
            return []
        return _split_at_hidden(actions, start, size, slots, costs.first_push(size, slots))

    return _walk(length, memory, expand)


def _internal_actions(costs: ConvexCosts, length: int, slots: int) -> list[RecomputeAction]:
    def expand(actions: list[RecomputeAction], start: int, size: int,
               available: int) -> list[_Task]:
        if size == 0:
            return []
        split = costs.first_push(size, available)
        return _split_at_internal(actions, start, size, available, split, 1)

    return _walk(length, slots, expand)


def _mixed_actions(costs: MixedCosts, length: int, memory: int) -> list[RecomputeAction]:
    def expand(actions: list[RecomputeAction], start: int, size: int, units: int) -> list[_Task]:
        if size == 0:
            return []
        kind, split = costs.first_push(size, units)
        if kind == "hidden":
            return _split_at_hidden(actions, start, size, units, split)
        cost = costs.beta if split == 1 else costs.alpha
        return _split_at_internal(actions, start, size, units, split, cost)

    return _walk(length, memory, expand)


def _sqrt_actions(length: int) -> list[RecomputeAction]:
    """Chen's sqrt(t): store segment starts, keep the last segment, recompute the others once."""
    segment = math.isqrt(length - 1) + 1 if length > 1 else 1  # ceil(sqrt(length))
    starts = list(range(0, length, segment))
    actions: list[RecomputeAction] = []
    for previous, start in zip(starts, starts[1:]):
        _push_hidden(actions, previous, start)
    for step in range(starts[-1] + 1, length + 1):
        actions.append(RecomputeAction("keep", step - 1, step))
    for index in range(len(starts) - 1, -1, -1):
        start = starts[index]
        stop = starts[index + 1] if index + 1 < len(starts) else length
        if index + 1 < len(starts):  # the last segment's cores are still kept from the pass
            for step in range(start + 1, stop + 1):
                actions.append(RecomputeAction("keep", step - 1, step))
        for step in range(stop, start, -1):
            actions.append(RecomputeAction("backward", step - 1, step))
        if start > 0:
            actions.append(RecomputeAction("free_hidden", start, start))
    return actions


def _all_kept_actions(length: int) -> list[RecomputeAction]:
    keeps = [RecomputeAction("keep", step - 1, step) for step in range(1, length + 1)]
    backs = [RecomputeAction("backward", step - 1, step) for step in range(length, 0, -1)]
    return keeps + backs


def _simulate(actions: list[RecomputeAction] | tuple[RecomputeAction, ...], length: int,
              alpha: int) -> tuple[int, int, int, int, int]:
    """Runs the actions on positions only, checking them as the executor will.

    Returns:
        (forward steps, peak units, most hidden states, most kept cores, first-pass length).
    """
    hidden: set[int] = set()
    kept: set[int] = set()
    register, gradient_at = 0, length  # where the last computed state / next gradient is
    kept_units = forward_steps = 0
    peak = most_hidden = most_kept = 0
    first_pass = None

    def held(position: int) -> bool:
        return position == 0 or position in hidden or position in kept

    def sharing_changed(position: int, now_held: bool) -> int:
        # A kept core after `position` shares its input state while that state is held.
        return (-1 if now_held else 1) if position + 1 in kept else 0

    for index, action in enumerate(actions):
        start, stop = action.start, action.stop
        if action.kind in ("forward", "keep"):
            if not (held(start) or register == start) or stop <= start:
                raise RuntimeError(f"planner bug: {action} starts from a state not held")
            if first_pass is None and start != register:
                # The layer's outputs come from the first pass: it must run 1..t once, in order.
                raise RuntimeError(f"planner bug: first pass jumps back at {action}")
            if action.kind == "keep":
                if stop != start + 1 or stop in kept:
                    raise RuntimeError(f"planner bug: bad keep {action}")
                was_held = held(stop)
                kept_units += alpha - (1 if held(start) else 0)
                kept.add(stop)
                if not was_held:
                    kept_units += sharing_changed(stop, True)
            forward_steps += stop - start
            register = stop
        elif action.kind == "backward":
            if first_pass is None:
                first_pass = index
                if register != length:
                    raise RuntimeError("planner bug: backward starts before the first pass ends")
            if stop not in kept or stop != gradient_at:
                raise RuntimeError(f"planner bug: {action} out of order")
            kept.remove(stop)
            kept_units -= alpha - (1 if held(start) else 0)
            if not held(stop):
                kept_units += sharing_changed(stop, False)
            gradient_at = start
        elif action.kind == "save_hidden":
            if register != start or start in hidden:
                raise RuntimeError(f"planner bug: {action} saves a state not just computed")
            was_held = held(start)
            hidden.add(start)
            if not was_held:
                kept_units += sharing_changed(start, True)
        else:
            hidden.remove(start)
            if not held(start):
                kept_units += sharing_changed(start, False)
        peak = max(peak, 1 + len(hidden) + kept_units)
        most_hidden, most_kept = max(most_hidden, len(hidden)), max(most_kept, len(kept))
    if gradient_at != 0 or hidden or kept:
        raise RuntimeError("planner bug: actions do not back-propagate the whole sequence")
    return forward_steps, peak, most_hidden, most_kept, first_pass if first_pass else 0
