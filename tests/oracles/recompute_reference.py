"""Test and benchmark oracle: the straightforward BPTT-MSM dynamic programme, O(t^2 m).

In: the arguments of ``nndsl.plan.memory.recompute_mixed.MixedCosts``; out: an object with the same
interface and, by construction, the same costs and pushes. It scans every split y of every
subproblem, exactly as the planner did before ``recompute_mixed`` replaced it; the tests compare
the two and ``benchmarks/memory_planning.py`` times them side by side. Nothing else uses it.
"""

from __future__ import annotations

from operator import add
from typing import Literal

from nndsl.plan.memory.recompute_mixed import MixedProblem


class ReferenceMixedCosts(MixedProblem):
    """Exact costs and pushes of BPTT-MSM by the full scan (the setup is ``MixedProblem``'s)."""

    def __init__(self, sequence_length: int, memory: int, alpha: int, beta: int) -> None:
        self._rows: dict[int, list[int]] = {}
        self._pushes: dict[int, list[int]] = {}
        super().__init__(sequence_length, memory, alpha, beta)

    def _row(self, memory: int) -> list[int]:
        return self._rows[memory]

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
