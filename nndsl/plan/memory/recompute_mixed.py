"""Plan stage: the BPTT-MSM dynamic programme (Gruslys et al. 2016, eq. 6-10), fast and exact.

In: a sequence length, a memory allowance in hidden-state units, alpha (units of an internal
state) and beta (eq. 10: alpha - 1 when the pushed core's input state is already held, else
alpha). Out: ``MixedCosts``, holding C(t, m) and the first push D(t, m) of an optimal policy for
the subproblems a schedule visits. Pure Python (no torch, no numpy).

The recurrences and boundary conditions are those of ``nndsl.plan.memory.recompute_costs``:
C(t, m) = min(Q1, Q2) with Q1(y) = y + C(y, m) + C(t-y, m-1) (hidden push, 1 <= y < t) and
Q2(y) = y + C(y-1, m) + C(t-y, m - (beta if y == 1 else alpha)) (internal push, 1 <= y <= t).

How it is fast. Rows are built bottom-up over m, each in one pass over t by
``nndsl.plan.memory.recompute_rows``: only splits that can be the smallest optimal one (ends,
and kinks of the two rows combined whose slopes allow it) are evaluated, mostly as slices, a few
per cell. Rows live in a module-level table per (alpha, beta) that grows as longer sequences or
larger budgets are asked for, so planning several budgets or layers reuses it. Costs do not
depend on which argmin is taken; the push an optimal policy makes first is then computed, only
for the subproblems the schedule visits, with the full scan and the tie-breaking of
tests/oracles/recompute_reference.py (the straightforward programme the tests compare this one
with).
"""

from __future__ import annotations

from collections import OrderedDict
from operator import add
from typing import Literal

from nndsl.plan.memory.recompute_costs import INFEASIBLE, CapacityTable, ConvexCosts, mixed_rule
from nndsl.plan.memory.recompute_rows import RowShape, build_row

_CACHED_TABLES = 4
"""How many (alpha, beta) tables stay cached between calls."""

_CACHED_CELLS = 2_000_000
"""Tables with more cells than this are used once and not kept."""


class MixedTable:
    """C(t, m) of BPTT-MSM for one (alpha, beta); rows grow on demand and are never truncated
    below what an earlier call computed.

    ``rows[m][t]`` is C(t, m) for m >= 1 (``rows[0]`` is a placeholder: no memory is
    infeasible); ``left[m][t] = t + C(t, m)`` (the left part of a hidden push);
    ``kinks[m]`` lists, increasing, the t >= 2 where row m has a positive second difference;
    ``shapes[m]`` describes the slopes of a finished row m for the rows above (made on demand).
    """

    def __init__(self, alpha: int, beta: int) -> None:
        self.alpha, self.beta = alpha, beta
        self.rows: list[list[int]] = [[0]]
        self.left: list[list[int]] = [[0]]
        self.kinks: list[list[int]] = [[]]
        self.shapes: list[RowShape | None] = [None]

    @property
    def cells(self) -> int:
        return sum(len(row) for row in self.rows)

    def ensure(self, length: int, memory: int) -> None:
        """Makes C(t, m) available for every subproblem reachable from (length, memory).

        A right-hand descent consumes >= 1 step per <= alpha units, so from (T, M) only lengths
        t <= T - ceil((M - m) / alpha) are ever reached with m units.
        """
        alpha = self.alpha
        for current in range(1, memory + 1):
            if current == len(self.rows):
                self.rows.append([0])
                self.left.append([0])
                self.kinks.append([])
                self.shapes.append(None)
            needed = length - (memory - current + alpha - 1) // alpha
            if needed >= len(self.rows[current]):
                self._extend(current, needed)

    def _extend(self, current: int, needed: int) -> None:
        """Builds row ``current`` for t = 0..needed (lower rows already long enough).

        A longer row is rebuilt from t = 0: its candidates for cells past the old end were
        never written, and the values below it come out the same (they are exact).
        """
        shapes = self.shapes
        for lower in (current - 1, current - self.alpha, current - self.beta):
            if lower >= 1 and shapes[lower] is None:
                shapes[lower] = RowShape(self.rows[lower], self.kinks[lower])
        row, left, kinks = build_row(current, needed, self.rows, shapes, self.alpha, self.beta)
        self.rows[current], self.left[current], self.kinks[current] = row, left, kinks
        shapes[current] = None  # its slopes changed: described again when a row above asks


_tables: OrderedDict[tuple[int, int], MixedTable] = OrderedDict()


def mixed_table(length: int, memory: int, alpha: int, beta: int) -> MixedTable:
    """The shared table for (alpha, beta), grown to cover (length, memory)."""
    key = (alpha, beta)
    table = _tables.pop(key, None) or MixedTable(alpha, beta)
    table.ensure(length, memory)
    if table.cells <= _CACHED_CELLS:
        _tables[key] = table
        while len(_tables) > _CACHED_TABLES:
            _tables.popitem(last=False)
    return table


def clear_mixed_tables() -> None:
    """Forgets the shared tables (benchmarks time cold starts with it)."""
    _tables.clear()


class MixedProblem:
    """One top-level BPTT-MSM problem (length, memory units): what every solver of it shares.

    ``certified`` is ``"hidden"`` or ``"internal"`` when that pure policy reaches the lower bound
    (then it is optimal and no table is built), else ``None`` and the subclass's ``_solve``
    tabulates the costs; ``_row(m)`` returns C(., m) from that table.
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
            self.top_cost = self._row(memory)[sequence_length]

    def _solve(self) -> None:
        raise NotImplementedError

    def _row(self, memory: int) -> list[int]:
        raise NotImplementedError

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
        return self._row(memory)[length]


class MixedCosts(MixedProblem):
    """Exact costs and pushes of BPTT-MSM, read off the shared row-at-once tables."""

    _table: MixedTable | None = None

    def _solve(self) -> None:
        self._table = mixed_table(self.sequence_length, self.memory, self.alpha, self.beta)

    def _row(self, memory: int) -> list[int]:
        assert self._table is not None
        return self._table.rows[memory]

    def first_push(self, length: int, memory: int) -> tuple[Literal["hidden", "internal"], int]:
        """(kind, y) of an optimal first push for a table subproblem (length >= 1).

        Among optimal pushes: the internal push of the last core, else the internal push at
        y = 1, else the leftmost hidden push, else the leftmost internal push (y >= 2).
        """
        if self._stores_everything(length, memory):
            return ("internal", 1)
        assert self._table is not None
        table, t = self._table, length
        row = table.rows[memory]
        right_hidden = table.rows[memory - 1] if memory >= 2 else None
        right_internal = table.rows[memory - self.alpha] if memory > self.alpha else None
        right_first = table.rows[memory - self.beta] if memory > self.beta else None
        best, choice = t + row[t - 1], ("internal", t)
        if right_first is not None and t >= 2 and 1 + right_first[t - 1] < best:
            best, choice = 1 + right_first[t - 1], ("internal", 1)
        last = min(t - 1, best - t - 1)
        if right_hidden is not None and last >= 1:
            values = list(map(add, table.left[memory][1:last + 1],
                              right_hidden[t - 1:t - last - 1:-1]))
            value = min(values)
            if value < best:
                best, choice = value, ("hidden", 1 + values.index(value))
        last = min(t - 1, best - t)
        if right_internal is not None and last >= 2:
            values = list(map(add, table.left[memory][1:last],
                              right_internal[t - 2:t - last - 1:-1]))
            value = 1 + min(values)
            if value < best:
                choice = ("internal", 2 + values.index(value - 1))
        return choice
