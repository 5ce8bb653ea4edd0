"""Plan stage: forward-step costs of memory-bounded BPTT (Gruslys et al., NIPS 2016).

In: a sequence length, a memory allowance and the size of an internal state in hidden-state
units. Out: C(t, m), the fewest forward core executions (the first forward pass included) that
back-propagate t steps within memory m, and the first push D(t, m) of a policy reaching it.
Pure Python (no torch, no numpy): it runs inside ``nndsl validate``.

Memory conventions (the digest's boundary conditions, section 4):

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
are optimal and no table is needed, otherwise the exact dynamic programme runs, O(t^2 m).
"""

from __future__ import annotations

from bisect import bisect_left
from operator import add
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


class MixedCosts:
    """Exact costs and pushes of BPTT-MSM for one top-level problem (length, memory units).

    ``certified`` is ``"hidden"`` or ``"internal"`` when that pure policy reaches the lower bound
    (then it is optimal and no table is built), else ``None`` and ``first_push`` reads the table.
    """

    def __init__(self, sequence_length: int, memory: int, alpha: int, beta: int) -> None:
        self.sequence_length, self.memory = sequence_length, memory
        self.alpha, self.beta = alpha, beta
        self.certified: Literal["hidden", "internal"] | None = None
        self.hidden = ConvexCosts("hidden", sequence_length, memory)
        # Pure internal pushes with m units equal ISM with ceil(m / alpha) slots when beta ==
        # alpha: the remainder after a push needs >= 1 unit, and the last core is free.
        self.internal_slots = -(-memory // alpha)
        self.internal = ConvexCosts("internal", sequence_length, self.internal_slots)
        self._rows: dict[int, list[int]] = {}
        self._pushes: dict[int, list[int]] = {}
        if self._stores_everything(sequence_length, memory):
            self.top_cost = sequence_length
            return
        lower = CapacityTable(sequence_length, memory, mixed_rule(alpha, beta)).bound(
            sequence_length, memory)
        hidden_cost = self.hidden.cost(sequence_length, memory)
        internal_cost = (self.internal.cost(sequence_length, self.internal_slots)
                         if beta == alpha else INFEASIBLE)
        if min(hidden_cost, internal_cost) == lower:
            self.certified = "hidden" if hidden_cost == lower else "internal"
            self.top_cost = lower
        else:
            self._solve()
            self.top_cost = self._rows[memory][sequence_length]

    def _stores_everything(self, length: int, memory: int) -> bool:
        # Internal pushes at y = 1 all the way cost beta each, the last core free: C = t.
        return memory >= self.beta * (length - 1) + 1

    def cost(self, length: int, memory: int) -> int:
        """C(length, memory) for the subproblems the policy visits."""
        if length == 0:
            return 0
        if memory <= 0:
            return INFEASIBLE
        if self._stores_everything(length, memory):
            return length
        return self._rows[memory][length]

    def first_push(self, length: int, memory: int) -> tuple[Literal["hidden", "internal"], int]:
        """(kind, y) of an optimal first push for a table subproblem (length >= 1)."""
        if self._stores_everything(length, memory):
            return ("internal", 1)
        push = self._pushes[memory][length]
        return ("hidden", push) if push > 0 else ("internal", -push)

    def _solve(self) -> None:
        """Bottom-up over m, then t; only subproblems reachable from the top are tabulated."""
        length, memory, alpha, beta = self.sequence_length, self.memory, self.alpha, self.beta
        rows, pushes = self._rows, self._pushes
        for current in range(1, memory + 1):
            # A right-hand descent consumes >= 1 step per <= alpha units, so from (T, M) only
            # lengths t <= T - ceil((M - m) / alpha) are ever reached with m units.
            reachable = length - (memory - current + alpha - 1) // alpha
            row, push = [0] * (max(reachable, 0) + 1), [0] * (max(reachable, 0) + 1)
            rows[current], pushes[current] = row, push
            left_hidden = [0] * len(row)    # y + C(y, m): the left part after a hidden push
            left_internal = [0] * len(row)  # y + C(y-1, m): the left part after an internal push
            right_hidden = rows.get(current - 1)
            right_internal = rows.get(current - alpha)
            right_first = rows.get(current - beta)
            hidden_reversed = right_hidden[::-1] if right_hidden else None
            internal_reversed = right_internal[::-1] if right_internal else None
            for t in range(1, reachable + 1):
                left_internal[t] = t + row[t - 1]
                if self._stores_everything(t, current):
                    row[t], push[t], left_hidden[t] = t, -1, 2 * t
                    continue
                best, choice = left_internal[t], -t  # internal push of the last core
                if right_first is not None and t >= 2 and 1 + right_first[t - 1] < best:
                    best, choice = 1 + right_first[t - 1], -1
                # Q1 >= t + y (every step runs at least once, the left part twice): stop there.
                last = min(t - 1, best - t - 1)
                if hidden_reversed is not None and last >= 1:
                    offset = len(hidden_reversed) - t
                    values = list(map(add, left_hidden[1:last + 1],
                                      hidden_reversed[offset:offset + last]))
                    value = min(values)
                    if value < best:
                        best, choice = value, 1 + values.index(value)
                last = min(t - 1, best - t)  # Q2 >= t + y - 1
                if internal_reversed is not None and last >= 2:
                    offset = len(internal_reversed) - t
                    values = list(map(add, left_internal[2:last + 1],
                                      internal_reversed[offset + 1:offset + last]))
                    value = min(values)
                    if value < best:
                        best, choice = value, -(2 + values.index(value))
                row[t], push[t], left_hidden[t] = best, choice, t + best
