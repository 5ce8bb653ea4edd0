"""Costs C(t, m) of the recompute planner against the paper's recurrences, exhaustive search and
the digest's reference numbers (section 4 of shared/papers/DIGEST.md)."""

from __future__ import annotations

import heapq
import pytest

from nndsl.plan.memory.recompute import plan_recompute
from nndsl.plan.memory.recompute_costs import INFEASIBLE, ConvexCosts
from nndsl.plan.memory.recompute_mixed import MixedCosts

# -- the paper's recurrences, written out plainly (the digest's boundary conditions) ---------


def reference_hsm(length: int, memory: int) -> list[list[int]]:
    """table[t][m] by eq. 1-3: C(t,1) = t(t+1)/2, C(1,m) = 1, Q = y + C(y,m) + C(t-y,m-1)."""
    table = [[INFEASIBLE] * (memory + 1) for _ in range(length + 1)]
    for t in range(1, length + 1):
        for m in range(1, memory + 1):
            if m == 1:
                table[t][m] = t * (t + 1) // 2
            elif t == 1:
                table[t][m] = 1
            else:
                table[t][m] = min(y + table[y][m] + table[t - y][m - 1] for y in range(1, t))
    return table


def reference_mixed(length: int, memory: int, alpha: int, beta: int) -> list[list[int]]:
    """table[t][m] by eq. 6-10; an empty remainder is free, C(t >= 1, m <= 0) infeasible."""
    table = [[0] * (memory + 1) for _ in range(length + 1)]

    def cost(t: int, m: int) -> int:
        return 0 if t == 0 else (INFEASIBLE if m <= 0 else table[t][m])

    for t in range(1, length + 1):
        for m in range(1, memory + 1):
            hidden = min((y + cost(y, m) + cost(t - y, m - 1) for y in range(1, t)),
                         default=INFEASIBLE)
            internal = min(y + cost(y - 1, m) + cost(t - y, m - (beta if y == 1 else alpha))
                           for y in range(1, t + 1))
            table[t][m] = min(hidden, internal)
    return table


def reference_ism(length: int, slots: int) -> list[list[int]]:
    """table[t][m] by eq. 4-5: C(0,m) = 0, Q = y + C(y-1,m) + C(t-y,m-1), no slots infeasible."""
    table = [[0] * (slots + 1) for _ in range(length + 1)]
    for t in range(1, length + 1):
        table[t][0] = INFEASIBLE
        for m in range(1, slots + 1):
            table[t][m] = min(y + table[y - 1][m] + table[t - y][m - 1] for y in range(1, t + 1))
    return table


# -- exhaustive searches --------------------------------------------------------------------


def state_space_minimum(length: int, memory: int, model: str) -> int:
    """Fewest forward steps over *all* executions (Dijkstra over executor states), not only
    divide-and-conquer ones.

    ``"hidden"``: at most ``memory`` stored hidden states (the initial one included) and one
    kept core (the workspace). ``"internal"``: at most ``memory`` kept cores, the initial state
    free, no stored hidden states.
    """
    start = (frozenset([0]), 0, frozenset(), length)  # stored, register, kept, gradient
    distance = {start: 0}
    queue = [(0, start)]
    while queue:
        steps, state = heapq.heappop(queue)
        if steps > distance[state]:
            continue
        stored, register, kept, gradient = state
        if gradient == 0:
            return steps
        moves = [((stored, position, kept, gradient), 0) for position in stored | kept]
        if register is not None and register < length:
            moves.append(((stored, register + 1, kept, gradient), 1))
            core_limit = 1 if model == "hidden" else memory
            if len(kept) < core_limit:
                moves.append(((stored, register + 1, kept | {register + 1}, gradient), 1))
        if model == "hidden" and register is not None and register not in stored \
                and len(stored) < memory:
            moves.append(((stored | {register}, register, kept, gradient), 0))
        moves += [((stored - {position}, register, kept, gradient), 0) for position in stored]
        if gradient in kept:
            moves.append(((stored, register, kept - {gradient}, gradient - 1), 0))
        for successor, cost in moves:
            if steps + cost < distance.get(successor, INFEASIBLE):
                distance[successor] = steps + cost
                heapq.heappush(queue, (steps + cost, successor))
    return INFEASIBLE


def split_policy_costs(length: int, memory: int, alpha: int, beta: int) -> int:
    """The cheapest recursive split policy by enumerating every policy tree (no recurrence):
    each tree is turned into its sequence of forward runs, which are counted."""

    def trees(start: int, size: int, units: int):
        """Yields, for each policy of the subproblem, the list of forward runs it makes."""
        if size == 0:
            yield []
            return
        if units <= 0:
            return
        for y in range(1, size):  # hidden push at start + y
            for right in trees(start + y, size - y, units - 1):
                for left in trees(start, y, units):
                    yield [(start, start + y)] + right + left
        for y in range(1, size + 1):  # internal push of step start + y
            remainder = units - (beta if y == 1 else alpha)
            if size - y > 0 and remainder <= 0:
                continue
            for right in trees(start + y, size - y, remainder):
                for left in trees(start, y - 1, units):
                    yield [(start, start + y)] + right + left

    return min(sum(stop - begin for begin, stop in runs) for runs in trees(0, length, memory))


# -- tests ----------------------------------------------------------------------------------


def test_hidden_closed_form_equals_recurrence():
    reference = reference_hsm(40, 12)
    costs = ConvexCosts("hidden", 40, 12)
    for t in range(1, 41):
        for m in range(1, 13):
            assert costs.cost(t, m) == reference[t][m], (t, m)


def test_internal_closed_form_equals_recurrence():
    reference = reference_ism(40, 12)
    costs = ConvexCosts("internal", 40, 12)
    for t in range(1, 41):
        for m in range(1, 13):
            assert costs.cost(t, m) == reference[t][m], (t, m)


@pytest.mark.parametrize("alpha,beta", [(2, 2), (3, 3), (5, 5), (3, 2), (5, 4), (2, 1)])
def test_mixed_equals_recurrence(alpha, beta):
    reference = reference_mixed(30, 40, alpha, beta)
    for t in range(1, 31, 3):
        for m in range(1, 41, 2):
            assert MixedCosts(t, m, alpha, beta).top_cost == reference[t][m], (t, m)


def test_hidden_and_internal_match_exhaustive_state_search():
    # Any execution, not only divide and conquer: the paper's policies are optimal.
    for t in range(1, 6):
        for m in range(1, 5):
            assert ConvexCosts("hidden", t, m).cost(t, m) == state_space_minimum(t, m, "hidden")
            assert ConvexCosts("internal", t, m).cost(t, m) == state_space_minimum(
                t, m, "internal")


@pytest.mark.parametrize("alpha,beta", [(2, 2), (3, 3), (3, 2)])
def test_mixed_matches_exhaustive_split_policies(alpha, beta):
    for t in range(1, 7):
        for m in range(1, 3 * alpha + 2):
            assert MixedCosts(t, m, alpha, beta).top_cost == split_policy_costs(
                t, m, alpha, beta), (t, m)


def test_digest_unit_values():
    hidden = ConvexCosts("hidden", 10, 4)
    assert hidden.cost(4, 4) == 7 and hidden.cost(10, 4) == 24
    assert [ConvexCosts("hidden", 10, 2).cost(t, 2) for t in range(1, 11)] == [
        1, 3, 5, 8, 11, 14, 18, 22, 26, 30]
    ism_row = [1, 2, 4, 6, 8, 11, 14, 17, 20, 24]
    assert [ConvexCosts("internal", 10, 2).cost(t, 2) for t in range(1, 11)] == ism_row
    assert [MixedCosts(t, 3, 2, 2).top_cost for t in range(1, 11)] == ism_row


def test_digest_values_at_length_1000_for_hidden_and_internal():
    per_step = {m: ConvexCosts("hidden", 1000, m).cost(1000, m) / 1000
                for m in (2, 3, 5, 10, 20, 50, 100)}
    assert per_step == {2: 29.82, 3: 13.155, 5: 7.284, 10: 4.636, 20: 3.747, 50: 2.948,
                        100: 2.898}
    per_step = {m: ConvexCosts("internal", 1000, m).cost(1000, m) / 1000
                for m in (10, 20, 50, 100)}
    assert per_step == {10: 3.640, 20: 2.750, 50: 1.950, 100: 1.900}


def test_digest_mixed_value_at_length_100():
    # t = 100, m = 50 units, alpha = 5: MSM 1.90, HSM 2.48, ISM (10 slots) 2.25.
    assert MixedCosts(100, 50, 5, 5).top_cost == 190
    assert ConvexCosts("hidden", 100, 50).cost(100, 50) == 248
    assert ConvexCosts("internal", 100, 10).cost(100, 10) == 225


@pytest.mark.slow
@pytest.mark.parametrize("memory,expected", [(50, 2723), (100, 1995)])
def test_digest_mixed_values_at_length_1000(memory, expected):
    # Not certified by the lower bound: the exact table runs (several seconds).
    assert MixedCosts(1000, memory, 5, 5).top_cost == expected


def test_mixed_certified_by_lower_bound_at_larger_budgets():
    mixed = MixedCosts(1000, 250, 5, 5)  # 5% of plain BPTT: 50 internal states
    assert (mixed.certified, mixed.top_cost) == ("internal", 1950)


@pytest.mark.parametrize("policy", ["hidden", "internal", "optimal"])
def test_cost_never_increases_with_memory(policy):
    costs = [plan_recompute(60, m, policy, 3).predicted_forward_steps for m in range(1, 200)]
    assert all(later <= earlier for earlier, later in zip(costs, costs[1:]))
    assert costs[0] == 60 * 61 // 2  # one unit: rerun from the start before every step
    assert costs[-1] == (2 * 60 - 1 if policy == "hidden" else 60)  # plenty: 2t - 1 or t


@pytest.mark.parametrize("alpha", [2, 3, 5])
def test_mixed_never_worse_than_hidden_or_internal(alpha):
    strictly_better = 0
    for length in (7, 25, 60):
        for memory in range(1, 4 * length, 3):
            mixed = plan_recompute(length, memory, "optimal", alpha).predicted_forward_steps
            best_pure = min(plan_recompute(length, memory, policy, alpha).predicted_forward_steps
                            for policy in ("hidden", "internal"))
            assert mixed <= best_pure
            strictly_better += mixed < best_pure
    assert strictly_better > 0  # the mixture does pay off somewhere


def test_eq10_never_worse_than_eq7():
    eq7 = reference_mixed(25, 40, 4, 4)
    eq10 = reference_mixed(25, 40, 4, 3)
    assert all(eq10[t][m] <= eq7[t][m] for t in range(1, 26) for m in range(1, 41))
    assert MixedCosts(25, 20, 4, 3).top_cost == eq10[25][20]

