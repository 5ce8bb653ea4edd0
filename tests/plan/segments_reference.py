"""Test oracle: the checkpoint-segment search as first written, without prefix sums or bounds.

Every state on the Pareto front per chain position, every segment's bytes summed afresh. Cubic
or worse in the chain length; the tests compare the planner with it on chains of up to a few
hundred layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from nndsl.plan.memory.segments import ChainLayer, Segment, merge_plain, owned_bytes, segment_bytes
from nndsl.records import Record


class _State(Record):
    stored: int
    score: float
    parent: _State | None
    segment: Segment | None


def reference_segments(layers: Sequence[ChainLayer], budget: float,
                       minimise_peak: bool = False) -> tuple[Segment, ...] | None:
    """The least-cost (or, with `minimise_peak`, the least-peak) segmentation within `budget`."""
    count = len(layers)
    owned = [owned_bytes(layers, index) for index in range(count)]
    incoming: list[list[_State]] = [[] for _ in range(count + 1)]
    incoming[0] = [_State(0, 0.0, None, None)]
    for start in range(count):
        for state in _pareto(incoming[start]):
            stored = state.stored + owned[start]
            if stored <= budget:
                score = max(state.score, stored) if minimise_peak else state.score
                incoming[start + 1].append(_State(stored, score, state, Segment(start, start + 1, False)))
            if not layers[start].checkpointable:
                continue
            after_plain = state.segment is not None and not state.segment.checkpointed
            cost = 0.0
            for stop in range(start + 1, count + 1):
                if not layers[stop - 1].checkpointable:
                    break
                cost += layers[stop - 1].forward_cost
                boundary, internal = segment_bytes(layers, Segment(start, stop, True), after_plain)
                peak = state.stored + boundary + internal
                if peak > budget:
                    break
                score = max(state.score, peak) if minimise_peak else state.score + cost
                incoming[stop].append(_State(state.stored + boundary, score, state, Segment(start, stop, True)))
    finals = _pareto(incoming[count])
    if not finals:
        return None
    best = min(finals, key=lambda state: (state.score, state.stored))
    segments: list[Segment] = []
    node: _State | None = best
    while node is not None and node.segment is not None:
        segments.append(node.segment)
        node = node.parent
    return merge_plain(segments[::-1])


def _pareto(states: list[_State]) -> list[_State]:
    """Every state not dominated in (stored, score), per kind of last segment (no thinning)."""
    fronts: list[_State] = []
    for plain_last in (False, True):
        front: list[_State] = []
        group = [state for state in states
                 if (state.segment is not None and not state.segment.checkpointed) == plain_last]
        for state in sorted(group, key=lambda state: (state.stored, state.score)):
            if not front or state.score < front[-1].score:
                front.append(state)
        fronts.extend(front)
    return fronts
