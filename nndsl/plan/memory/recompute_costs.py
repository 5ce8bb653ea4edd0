"""Plan stage: forward-step costs of memory-bounded BPTT (Gruslys et al., NIPS 2016).

In: a sequence length, a memory allowance and the size of an internal state in hidden-state
units. Out: C(t, m), the fewest forward core executions (the first forward pass included) that
back-propagate t steps within memory m, and the first push D(t, m) of a policy reaching it.
Pure Python (no torch, no numpy): it runs inside ``nndsl validate``.

Memory conventions (the boundary conditions of Gruslys et al. 2016's recurrences):

* BPTT-HSM, m hidden-state slots counting the subsequence's own start state:
  C(t, 1) = t(t+1)/2, C(1, m) = 1, Q = y + C(y, m) + C(t-y, m-1) for 1 <= y < t.
* BPTT-ISM, m internal-state slots, the initial hidden state not counted:
  C(0, m) = 0, Q = y + C(y-1, m) + C(t-y, m-1) for 1 <= y <= t.
* BPTT-MSM, m hidden-state units, an internal state costs alpha units: a hidden push is Q1 (as
  HSM, m-1 on the right), an internal push is Q2 = y + C(y-1, m) + C(t-y, m-a) where a = alpha,
  or a = beta when y = 1 (eq. 10, "without double memorisation": the input state of the pushed
  core is the subsequence's start, which is already held). beta = alpha gives the simpler eq. 7.
  An empty remainder costs 0 at any memory; C(t >= 1, m <= 0) is infeasible.

Solvers. HSM and ISM costs are convex in t, so they have a closed form: if N_m(c) is the most
steps that can be back-propagated when no step runs more than c times, C(t, m) is the sum over c
of max(0, t - N_m(c)) (the tests check this against the recurrences). MSM costs are not convex in
t, so the same sum is only a lower bound there; when HSM or pure-internal policies reach it they
are optimal and no table is needed, otherwise the exact dynamic programme of
``nndsl.plan.memory.recompute_mixed`` runs.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Callable, Literal

INFEASIBLE = 1 << 62
"""Cost standing for "no policy fits"; an int so that sums stay exact."""

CapacityRule = Callable[[list[list[int]], list[int], int, int], int]


def _capacity_at(rows: list[list[int]], memory: int, repetitions: int) -> int:
    """N_memory(repetitions); past the end of a row its last value (already >= t) stands in."""
    if memory <= 0:
        return 0  # no memory left: the remainder must be empty
    row = rows[memory]
    return row[repetitions] if repetitions < len(row) else row[-1]


class CapacityTable:
    """Rows N_m(c) for m = 1..memory, each cut where it reaches the sequence length.

    C(t, m) >= sum over c of max(0, t - N_m(c)): a step run r times is counted in the r terms
    c = 0..r-1, and at most N_m(c) steps can run c times or fewer. Equality holds for HSM and ISM.
    """

    def __init__(self, sequence_length: int, memory: int, rule: CapacityRule) -> None:
        self.sequence_length = sequence_length
        self.rows: list[list[int]] = [[0]]
        self.prefix_sums: list[list[int]] = [[0, 0]]
        for current_memory in range(1, memory + 1):
            row = [0]
            while row[-1] < sequence_length:
                row.append(rule(self.rows, row, current_memory, len(row)))
            self.rows.append(row)
            sums = [0]
            for value in row:
                sums.append(sums[-1] + value)
            self.prefix_sums.append(sums)

    def bound(self, length: int, memory: int) -> int:
        """The lower bound (exact for HSM and ISM) on C(length, memory)."""
        if length <= 0:
            return 0
        if memory <= 0:
            return INFEASIBLE
        memory = min(memory, len(self.rows) - 1)
        below = bisect_left(self.rows[memory], length)  # repetition counts c with N(c) < length
        return below * length - self.prefix_sums[memory][below]


def hidden_rule(rows: list[list[int]], row: list[int], memory: int, repetitions: int) -> int:
    """HSM: the left part runs once more (N_m(c-1)), the right part has one slot less."""
    if memory == 1:
        return repetitions  # only the start state: step k of the tail runs k times
    return row[repetitions - 1] + _capacity_at(rows, memory - 1, repetitions)


def internal_rule(rows: list[list[int]], row: list[int], memory: int, repetitions: int) -> int:
    """ISM: left part once more, the pushed core once, the right part one slot less."""
    return row[repetitions - 1] + 1 + _capacity_at(rows, memory - 1, repetitions)


def mixed_rule(alpha: int, beta: int) -> CapacityRule:
    """MSM: the best of a hidden push, an internal push and an internal push at y = 1."""

    def rule(rows: list[list[int]], row: list[int], memory: int, repetitions: int) -> int:
        best = row[repetitions - 1] + 1 + _capacity_at(rows, memory - alpha, repetitions)
        best = max(best, 1 + _capacity_at(rows, memory - beta, repetitions))
        if memory >= 2:
            best = max(best, row[repetitions - 1] + _capacity_at(rows, memory - 1, repetitions))
        return best

    return rule


def _leftmost_minimum(objective: Callable[[int], int], low: int, high: int) -> int:
    """The smallest minimiser of a convex integer function on [low, high] (binary search)."""
    while low < high:
        middle = (low + high) // 2
        if objective(middle + 1) < objective(middle):
            low = middle + 1
        else:
            high = middle
    return low


class ConvexCosts:
    """Exact costs and first pushes of BPTT-HSM (``"hidden"``) or BPTT-ISM (``"internal"``)."""

    def __init__(self, kind: Literal["hidden", "internal"], sequence_length: int,
                 memory: int) -> None:
        self.kind = kind
        # More than t slots never helps a t-step sequence, so the table stops there.
        self.memory = max(1, min(memory, sequence_length))
        rule = hidden_rule if kind == "hidden" else internal_rule
        self.table = CapacityTable(sequence_length, self.memory, rule)

    def cost(self, length: int, memory: int) -> int:
        """C(length, memory) for this policy (memory in slots)."""
        return self.table.bound(length, memory)

    def first_push(self, length: int, memory: int) -> int:
        """D(length, memory): where an optimal policy pushes first (convex in y, so bisect).

        For ``"hidden"`` the caller handles length == 1 and memory == 1 (no push).
        """
        memory = min(memory, self.memory)
        cost = self.cost
        if self.kind == "hidden":
            return _leftmost_minimum(
                lambda y: y + cost(y, memory) + cost(length - y, memory - 1), 1, length - 1)
        if memory == 1:
            return length  # a single slot only ever holds the last core
        return _leftmost_minimum(
            lambda y: y + cost(y - 1, memory) + cost(length - y, memory - 1), 1, length)
