"""Plan stage: one row C(., m) of the BPTT-MSM table, built in a handful of steps per cell.

In: the lower rows (m - 1, m - alpha, m - beta, already long enough) with their ``RowShape``,
and the length to build. Out: the row C(t, m) for t = 0..length, t + C(t, m), and the positions
of its convex kinks. Pure Python; ``nndsl.plan.memory.recompute_mixed`` owns the table and the first
pushes, and the tests compare every value with tests/oracles/recompute_reference.py.

Why the row is exact with so little work. Write L(y) = y + C(y, m). The hidden pushes of a cell
t minimise f(y) = L(y) + R(t - y) over 1 <= y < t with R = C(., m - 1); the internal pushes at
2 <= y < t minimise 1 + L(y') + R'(t - 1 - y') over 1 <= y' <= t - 2 with R' = C(., m - alpha),
the same problem at t - 1. Take the smallest minimiser y of f. If it is not an end,
f(y - 1) > f(y) <= f(y + 1), so f has a positive second difference at y: L has a convex kink at
y or R has one at s = t - y. Both inequalities also read as slopes (dL(y) = L(y) - L(y - 1)):

* kink of L at y with slopes a = dL(y) < b = dL(y + 1): dR(t - y) <= b and dR(t - y + 1) > a;
* kink of R at s with slopes c = dR(s) < d = dR(s + 1): dL(y + 1) >= c and dL(y) < d.

Slopes are small integers, so these leave one or two candidates per cell out of the tens of
kinks. A kink of L is known once C(y + 1) is, and R is fixed: its candidate value L(y) + R(t - y)
is written, one slice at a time, into a running minimum ``best`` for the window of cells t the
first condition allows (an interval from R's slopes, a superset of the cells it can win). A kink
of R meets position y when dL(y + 1) is known and writes L(y) + R(s) into ``best[y + s]``. The
ends (y = 1: a vector known in advance; y = t - 1: the internal push of the last core) and the
internal push at y = 1 (beta) complete the candidates; every candidate is a real policy, so the
minimum over them is C(t, m) and nothing else.
"""

from __future__ import annotations

from bisect import bisect_right
from operator import sub

INFINITE = 1 << 62


class RowShape:
    """Slopes of one finished row R, as the rows above it query them.

    ``last_at_most(v)`` is the largest u with dR(u) <= v (0 if none); ``first_above(v)`` the
    smallest u with dR(u) > v (a huge number if none); ``kinks_meeting(p, q)`` lists (s, R(s))
    for the convex kinks s >= 2 of R with dR(s) <= p and dR(s + 1) > q, by increasing s.
    """

    def __init__(self, row: list[int], kinks: list[int]) -> None:
        slopes = list(map(sub, row[1:], row[:-1]))  # slopes[u - 1] = dR(u)
        top = max(slopes, default=0)
        last = dict(zip(slopes, range(1, len(slopes) + 1)))  # later u overwrite earlier ones
        first = dict(zip(reversed(slopes), range(len(slopes), 0, -1)))
        self._last_at_most = [0] * (top + 1)
        running = 0
        for value in range(top + 1):
            running = max(running, last.get(value, 0))
            self._last_at_most[value] = running
        self._length = len(slopes)
        self._first_above = [INFINITE] * (top + 1)
        running = INFINITE
        for value in range(top, -1, -1):
            self._first_above[value] = running  # slopes > value: those already passed
            running = min(running, first.get(value, INFINITE))
        self._top = top
        # Kinks ordered by their left slope c, so a query takes the prefix with c <= p.
        usable = [s for s in kinks if s + 1 < len(row)]
        self._kinks = sorted(((row[s] - row[s - 1], row[s + 1] - row[s], s, row[s])
                              for s in usable), key=lambda kink: (kink[0], kink[2]))
        self._lefts = [kink[0] for kink in self._kinks]
        self._meeting: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def last_at_most(self, value: int) -> int:
        if value >= self._top:
            return self._length
        return self._last_at_most[value] if value >= 0 else 0

    def first_above(self, value: int) -> int:
        if value >= self._top:
            return INFINITE
        return self._first_above[value] if value >= 0 else 1

    def kinks_meeting(self, p: int, q: int) -> list[tuple[int, int]]:
        found = self._meeting.get((p, q))
        if found is None:
            prefix = self._kinks[:bisect_right(self._lefts, p)]
            found = sorted((s, value) for _, d, s, value in prefix if d > q)
            self._meeting[(p, q)] = found
        return found


def build_row(memory: int, length: int, rows: list[list[int]], shapes: list[RowShape | None],
              alpha: int, beta: int) -> tuple[list[int], list[int], list[int]]:
    """(C(t, memory), t + C(t, memory), convex kinks t >= 2) for t = 0..length.

    ``rows[k]`` for k < memory must reach length - 1 (they do: see ``MixedTable.ensure``) and
    ``shapes[k]`` describe them; rows[0] is the placeholder of infeasible, never read.
    """
    end = length
    hidden = rows[memory - 1] if memory >= 2 else None
    internal = rows[memory - alpha] if memory > alpha else None
    first = rows[memory - beta] if memory > beta else None
    hidden_shape = shapes[memory - 1] if hidden is not None else None
    internal_shape = shapes[memory - alpha] if internal is not None else None
    # best[t]: the least candidate written so far for cell t; first the ones known in advance.
    best = [INFINITE] * (end + 1)
    if end >= 3 and internal is not None:
        # Also at y = 1 (beta) and hidden at y = 1 (memory > alpha >= beta): one pass for all.
        assert first is not None and hidden is not None
        best[2] = min(1 + first[1], 2 + hidden[1])
        best[3:] = [x if x < y and x < z else (y if y < z else z) for x, y, z in zip(
            map((1).__add__, first[2:end]), map((2).__add__, hidden[2:end]),
            map((3).__add__, internal[1:end - 1]))]
    else:  # no internal push at 2 <= y < t (memory <= alpha, or t < 3)
        if end >= 2 and first is not None:  # internal push at y = 1: 1 + C(t - 1, m - beta)
            best[2:] = [1 + value for value in first[1:end]]
        if end >= 2 and hidden is not None:  # hidden push at y = 1: L(1) = 2, then R(t - 1)
            best[2:] = [x if x < y + 2 else y + 2 for x, y in zip(best[2:], hidden[1:end])]
    left = [0] * (end + 1)  # L(t) = t + C(t, m); the row is read off it at the end
    kinks: list[int] = []
    if end >= 1:
        left[1] = 2  # C(1, m) = 1
    # C(t, m) = t while internal pushes at y = 1 fit all along; no policy costs less than t,
    # so writing t there makes the minimum below come out as t.
    everything = min(end, (memory - 1) // beta + 1)
    if everything >= 2:
        best[2:everything + 1] = range(2, everything + 1)
    # Internal push at y = t - 1: 1 + L(t - 2) + R'(1) = L(t - 2) + 2 in C units (at t = 2 it
    # reads 2, harmless: with an R' row, memory > alpha >= beta, so C(2, m) = 2).
    internal_end = 2 if internal is not None else INFINITE
    # The kinks of R and R' that position y meets, as (target - y, value - L(y)) by target;
    # they depend on (dL(y + 1), dL(y)) only, and those repeat along linear stretches.
    meetings: dict[tuple[int, int], list[tuple[int, int]]] = {}
    meeting: list[tuple[int, int]] = []
    key_slope = key_previous = -1
    before, base, previous_slope = 0, 2, 2  # L(t - 2), L(t - 1), dL(t - 1) for t = 2
    for t in range(2, end + 1):
        cost = best[t]
        if base + 1 < cost:  # internal push at y = t, or hidden at y = t - 1: t + C(t - 1)
            cost = base + 1
        if before + internal_end < cost:
            cost = before + internal_end
        here = t + cost
        left[t] = here
        slope = here - base  # dL(t); previous_slope is dL(t - 1), base is L(y) for y = t - 1
        if slope != key_slope or previous_slope != key_previous:
            key_slope, key_previous = slope, previous_slope
            meeting = meetings.get((slope, previous_slope))  # type: ignore[assignment]
            if meeting is None:
                meeting = _meeting(slope, previous_slope, hidden_shape, internal_shape)
                meetings[(slope, previous_slope)] = meeting
        if meeting:  # candidates y + s (kinks s of R) and y + s + 1 (of R') for later cells
            y = t - 1
            for delta, extra in meeting:
                target = y + delta
                if target > end:
                    break
                if base + extra < best[target]:
                    best[target] = base + extra
        if slope > previous_slope and t >= 3:  # a convex kink of L (and of the row) at y
            y = t - 1
            kinks.append(y)
            # Cells past the end get empty windows: low >= t + 1.
            if hidden_shape is not None:
                low = max(y + 2, y + hidden_shape.first_above(previous_slope) - 1)
                high = min(end, y + hidden_shape.last_at_most(slope))
                if high >= low:
                    best[low:high + 1] = [x if x < z else z for x, z in zip(
                        best[low:high + 1], map(base.__add__, hidden[low - y:high + 1 - y]))]
            if internal_shape is not None:
                low = max(y + 2, y + internal_shape.first_above(previous_slope))
                high = min(end, y + 1 + internal_shape.last_at_most(slope))
                if high >= low:
                    shifted = map((base + 1).__add__, internal[low - y - 1:high - y])
                    best[low:high + 1] = [x if x < z else z for x, z in zip(
                        best[low:high + 1], shifted)]
        before, base, previous_slope = base, here, slope
    row = list(map(sub, left, range(end + 1)))
    return row, left, kinks


def _meeting(slope: int, previous_slope: int, hidden_shape: RowShape | None,
             internal_shape: RowShape | None) -> list[tuple[int, int]]:
    """(target - y, candidate - L(y)) for the kinks of R and R' that a y with these slopes meets."""
    found: list[tuple[int, int]] = []
    if hidden_shape is not None:
        found += hidden_shape.kinks_meeting(slope, previous_slope)
    if internal_shape is not None:
        found += [(s + 1, value + 1) for s, value in
                  internal_shape.kinks_meeting(slope, previous_slope)]
    found.sort()
    return found
