"""Plan stage: the cheapest checkpoint segmentation of a feed-forward chain under a memory budget.

In: a chain of `ChainLayer` records and a byte budget. Out: the segmentation of least recompute
cost whose peak fits (`optimal_segments`), whether any fits (`fits`) and the lowest peak any
reaches (`smallest_peak`), under the memory model of `nndsl.plan.memory.segments`. Pure Python.

`optimal_segments` minimises the recompute cost subject to peak ≤ budget by dynamic programming
over the chain: the state after the first i layers is the bytes stored so far (and whether the
last segment ran plainly); for each i only the states on the Pareto front (fewer stored bytes or
less cost) are kept, which is exact — a state with more stored bytes and no lower cost can
never lead to a cheaper feasible plan. Chains longer than `EXACT_LAYERS` keep one state per
range of stored bytes (`BUCKETS` ranges of the budget), which bounds the work per layer and
keeps feasibility, not necessarily optimality (`_search`). `smallest_peak` bisects over budgets
with `fits`, an exact feasibility test in linear time.
Layers that cannot be recomputed (`checkpointable = False`) always run plainly.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Sequence

from nndsl.plan.memory.segments import (ChainLayer, Segment, evaluate, merge_plain, owned_bytes,
                                        plain_segments, shares_boundary)

EXACT_LAYERS = 64  # chains up to this long are planned exactly
BUCKETS = 32  # longer ones: ranges of stored bytes, one state per range and position


def optimal_segments(layers: Sequence[ChainLayer],
                     budget_bytes: float) -> tuple[Segment, ...] | None:
    """The segmentation of least recompute cost whose peak fits `budget_bytes` (None if none
    does)."""
    return _search(layers, budget_bytes)


def smallest_peak(layers: Sequence[ChainLayer]) -> int:
    """The lowest peak any segmentation reaches: the smallest feasible budget for the chain.

    Found by bisection over whole-byte budgets with `fits` (feasibility only grows with the
    budget, and running everything plainly always fits its own peak).
    """
    chain = _Chain(layers)
    low, high = 0, evaluate(layers, plain_segments(layers)).peak_bytes
    while low < high:
        middle = (low + high) // 2
        if _fits(chain, middle):
            high = middle
        else:
            low = middle + 1
    return high


def fits(layers: Sequence[ChainLayer], budget_bytes: float) -> bool:
    """Whether some segmentation's peak fits the budget, in time linear in the chain length."""
    return _fits(_Chain(layers), budget_bytes)


def _fits(chain: _Chain, budget: float) -> bool:
    """The same transitions as `optimal_segments`, but only the fewest stored bytes per position
    and kind of last segment matter (fewer stored bytes never make a later step infeasible), so
    the open checkpointed segments form one `_Staircase` in (stored bytes, key) and the best one
    at each stop is its first entry that still fits."""
    count = len(chain.owned)
    infinite = math.inf
    plain, checkpointed = infinite, 0.0  # fewest stored bytes at the current position
    open_segments = _Staircase()
    for position in range(count + 1):
        if position > 0:
            kept = (plain if plain < checkpointed else checkpointed) + chain.owned[position - 1]
            plain = kept if kept <= budget else infinite
            if not chain.checkpointable[position - 1]:
                open_segments = _Staircase()
            entry = open_segments.best(budget - chain.level[position])
            checkpointed = entry[0] if entry is not None else infinite
        if position < count and chain.checkpointable[position]:
            for plain_last, stored in ((False, checkpointed), (True, plain)):
                if stored != infinite:
                    after = stored + chain.boundary(position, plain_last)
                    open_segments.insert(after, after - chain.base[position], (after,))
    return min(plain, checkpointed) <= budget



class _Chain:
    """Prefix sums over a chain, so that any segment's bytes and cost take constant time.

    owned_below[i] and cost_below[i]: the owned bytes and the forward cost of layers [0, i).
    A checkpointed segment [start, stop) after `stored` bytes peaks at
    ``stored + boundary + owned_below[stop] - owned_below[start] - own_input[start] + extra[stop]``
    (segment_bytes), where extra[stop] is the last layer's output a recomputation holds besides
    its owned bytes. With key = stored + boundary - base[start], base[start] = owned_below[start]
    + own_input[start], that is ``key <= budget - level[stop]``, level[stop] = owned_below[stop]
    + extra[stop]: one comparison per (state, stop), whatever the segment's length.
    """

    def __init__(self, layers: Sequence[ChainLayer]) -> None:
        count = len(layers)
        self.owned = [owned_bytes(layers, index) for index in range(count)]
        self.owned_below = [0]
        self.cost_below = [0.0]
        for index, layer in enumerate(layers):
            self.owned_below.append(self.owned_below[-1] + self.owned[index])
            self.cost_below.append(self.cost_below[-1] + layer.forward_cost)
        extra = [0] * (count + 1)
        for stop in range(1, count):
            if layers[stop - 1].saves_output and layers[stop].saves_input:
                extra[stop] = layers[stop - 1].output_bytes
        self.level = [self.owned_below[stop] + extra[stop] for stop in range(count + 1)]
        self.base = [self.owned_below[start] + layers[start].input_bytes * layers[start].saves_input
                     for start in range(count)]
        self.input_bytes = [layer.input_bytes for layer in layers]
        self.shared = [shares_boundary(layers, start) for start in range(count)]
        self.checkpointable = [layer.checkpointable for layer in layers]

    def boundary(self, start: int, plain_last: bool) -> int:
        return 0 if plain_last and self.shared[start] else self.input_bytes[start]


# A state: (stored bytes, score, parent state, segment start, segment stop, checkpointed).
_State = tuple
_STORED_THEN_SCORE = operator.itemgetter(0, 1)
# An open checkpointed segment: (stored bytes after its boundary, cost less cost_below[start],
# key, the state it starts from, start).
_Entry = tuple


class _Staircase:
    """Open segments none of which another beats in both of two measures (the first rising, the
    second falling along the lists); the entries whose second measure exceeds a falling limit
    leave from the start, for good. Amortised logarithmic time per operation."""

    __slots__ = ("firsts", "seconds", "entries", "start")

    def __init__(self) -> None:
        self.firsts: list[float] = []
        self.seconds: list[float] = []
        self.entries: list[_Entry] = []
        self.start = 0

    def insert(self, first: float, second: float, entry: _Entry) -> None:
        index = bisect.bisect_right(self.firsts, first, self.start)
        if index > self.start and self.seconds[index - 1] <= second:
            return  # an entry no worse in both measures is there already
        end = index
        while end < len(self.seconds) and self.seconds[end] >= second:
            end += 1
        self.firsts[index:end] = [first]
        self.seconds[index:end] = [second]
        self.entries[index:end] = [entry]

    def best(self, limit: float) -> _Entry | None:
        """The entry of the lowest first measure whose second one fits `limit` (evicting those
        before it, which never fit again: limits only fall)."""
        seconds, start = self.seconds, self.start
        while start < len(seconds) and seconds[start] > limit:
            start += 1
        if start > 64 and start * 2 > len(seconds):  # drop the evicted part now and then
            del self.firsts[:start], self.seconds[:start], self.entries[:start]
            start = 0
        self.start = start
        return self.entries[start] if start < len(seconds) else None


def _search(layers: Sequence[ChainLayer], budget: float) -> tuple[Segment, ...] | None:
    """Pareto dynamic programme over chain positions (see the module docstring), in time linear
    in the chain length for a bounded number of stored-bytes ranges.

    Fronts per position and per whether the last segment ran plainly (which can make the next
    checkpoint's boundary free): states differing there are not comparable. The plain front at
    position j is the front at j - 1 shifted by layer j - 1's owned bytes. The checkpointed
    front at j holds the segments [i, j) from every earlier start i: each state at i opens one
    segment, with its stored bytes after the boundary, its cost less the forward cost of layers
    [0, i) (the segment's cost is then cost_below[j] for all alike) and its key (`_Chain`); it
    closes for good at the first stop whose peak would exceed the budget (the segment could
    only grow past it) or at a layer that cannot run twice. Open segments are grouped by their
    stored bytes; within a group, one that another beats in cost and key alike is dropped (it
    can never be better later), so each group is a `_Staircase` and each stop reads the best
    open segment of every group in one step.

    Chains of up to EXACT_LAYERS layers group by exact stored bytes: the programme is exact.
    Longer ones group stored bytes into BUCKETS ranges of the budget and keep the cheapest state
    per range at each position, which bounds the work per layer. The fewest stored bytes are
    tracked exactly all the same (a separate staircase in stored bytes and key, as `fits`
    does), so a plan is found whenever one exists.
    """
    count = len(layers)
    chain = _Chain(layers)
    exact = count <= EXACT_LAYERS or not math.isfinite(budget)
    quantum = 1.0 if exact else max(1.0, budget / BUCKETS)
    checkpointed_front: list[_State] = [(0, 0.0, None, 0, 0, False)]
    plain_front: list[_State] = []
    groups: dict[int, _Staircase] = {}
    lowest = _Staircase()  # open segments from each position's fewest stored bytes: (stored, key)
    for position in range(count + 1):
        if position > 0:
            owned = chain.owned[position - 1]
            plain_front = _front([(state[0] + owned, state[1], state, position - 1, position, False)
                                  for state in (*plain_front, *checkpointed_front)
                                  if state[0] + owned <= budget], quantum)
            if not chain.checkpointable[position - 1]:
                groups, lowest = {}, _Staircase()  # no segment runs through this layer
            threshold, cost_below = budget - chain.level[position], chain.cost_below[position]
            candidates: list[_State] = []
            for bucket in list(groups):
                entry = groups[bucket].best(threshold)
                if entry is None:
                    del groups[bucket]
                else:
                    candidates.append((entry[0], entry[1] + cost_below, entry[3], entry[4],
                                       position, True))
            entry = lowest.best(threshold)
            if entry is not None:
                candidates.append((entry[0], entry[1] + cost_below, entry[3], entry[4], position,
                                   True))
            checkpointed_front = _front(candidates, quantum)
        if position < count and chain.checkpointable[position]:
            before, base = chain.cost_below[position], chain.base[position]
            fitting = budget - chain.level[position + 1]
            for plain_last, front in ((False, checkpointed_front), (True, plain_front)):
                boundary = chain.boundary(position, plain_last)
                for rank, state in enumerate(front):
                    after = state[0] + boundary
                    key = after - base
                    if key > fitting:  # the segment does not fit even one layer
                        break  # fronts rise in stored bytes, so none after it fits either
                    entry = (after, state[1] - before, key, state, position)
                    if rank == 0:
                        lowest.insert(after, key, entry)
                    bucket = int(after // quantum)
                    staircase = groups.get(bucket)
                    if staircase is None:
                        staircase = groups[bucket] = _Staircase()
                    staircase.insert(entry[1], key, entry)
    finals = [*checkpointed_front, *plain_front]
    if not finals:
        return None
    best = min(finals, key=lambda state: (state[1], state[0]))
    segments: list[Segment] = []
    node = best
    while node[2] is not None:
        segments.append(Segment(node[3], node[4], node[5]))
        node = node[2]
    return merge_plain(segments[::-1])


def _front(states: list[_State], quantum: float) -> list[_State]:
    """States not dominated in (stored, score), sorted by stored bytes; with a quantum above one
    byte, only the cheapest per range of `quantum` bytes besides the one storing least."""
    front: list[_State] = []
    states.sort(key=_STORED_THEN_SCORE)
    for state in states:
        if not front or state[1] < front[-1][1]:
            front.append(state)
    if quantum > 1.0 and len(front) > 1:
        thinned = [front[0]]
        for state in front[1:]:
            if int(state[0] // quantum) == int(thinned[-1][0] // quantum) and len(thinned) > 1:
                thinned[-1] = state  # cheaper, same range
            else:
                thinned.append(state)
        front = thinned
    return front
