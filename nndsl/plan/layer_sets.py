"""Plan stage: layer sets as ranges of positions in the graph order.

A plan names many layer sets: every cut's extractor and classifier, every run's trainable,
frozen and re-initialised layers. Listed name by name, `cuts: units` on an n-layer network
would hold n cuts of n names each (and a top-down search n runs of 2n), n² names in all. A
`LayerSet` instead holds half-open ranges [start, stop) of positions in one `LayerOrder` that
every set of the plan shares: a cut of `cuts: units` is one range, its classifier another.

In: the graph (its order and parameter counts). Out: `LayerSet`s, read like tuples of names in
graph order (iteration, `len`, indexing, `in`) and converted with `names` where a real tuple is
needed. In plan.json a set is written by `to_json`: a list of layer names in which a stretch of
more than `LISTED_RUN` consecutive layers of the graph order is written as one object
`{"from": FIRST, "to": LAST, "layers": COUNT}` (both ends included).
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from nndsl.ir import Graph

LISTED_RUN = 8  # consecutive layers up to this many are listed by name in plan.json

Range = tuple[int, int]


class LayerOrder:
    """The graph order shared by a plan's layer sets: names, positions and parameter counts.

    `parameters_below[i]` is the parameter count of the first i layers (prefix sums), so a
    set's parameter count costs one subtraction per range.
    """

    __slots__ = ("names", "parameters_below", "position")

    def __init__(self, graph: Graph) -> None:
        self.names: tuple[str, ...] = tuple(graph.order)
        self.position = {name: index for index, name in enumerate(self.names)}
        self.parameters_below = [0]
        for name in self.names:
            count = graph.node(name).parameter_count
            self.parameters_below.append(self.parameters_below[-1] + count)

    def span(self, start: int, stop: int) -> LayerSet:
        """The layers at positions start..stop-1 (empty when stop <= start)."""
        return LayerSet(self, ((start, stop),) if stop > start else ())

    def everything(self) -> LayerSet:
        return self.span(0, len(self.names))

    def of(self, names: Iterable[str]) -> LayerSet:
        """The set of the named layers (any order, repeats ignored; every name in the graph)."""
        return self.at(self.position[name] for name in names)

    def at(self, positions: Iterable[int]) -> LayerSet:
        """The set of the layers at the given positions (any order, repeats ignored)."""
        ranges: list[list[int]] = []
        for index in sorted(set(positions)):
            if ranges and ranges[-1][1] == index:
                ranges[-1][1] = index + 1
            else:
                ranges.append([index, index + 1])
        return LayerSet(self, tuple((start, stop) for start, stop in ranges))


_cache_lock = threading.Lock()
_cached: tuple[Graph, LayerOrder] | None = None


def layer_order(graph: Graph) -> LayerOrder:
    """The `LayerOrder` of `graph`, made once per graph: the cuts and the phases of one plan
    share it (the last graph's order is kept; the TUI compiles in a worker thread, hence the
    lock)."""
    global _cached
    with _cache_lock:
        if _cached is None or _cached[0] is not graph:
            _cached = (graph, LayerOrder(graph))
        return _cached[1]


class LayerSet(Sequence[str]):
    """Layers of one `LayerOrder` as sorted, disjoint, non-touching ranges [start, stop).

    Behaves as the tuple of its names in graph order (`len`, iteration, indexing, `in`); two
    sets are equal when they hold the same layers of equal orders. Immutable and hashable.
    """

    __slots__ = ("_count", "_starts", "order", "ranges")

    def __init__(self, order: LayerOrder, ranges: tuple[Range, ...]) -> None:
        self.order, self.ranges = order, ranges
        self._starts = [start for start, _ in ranges]
        self._count = sum(stop - start for start, stop in ranges)

    @property
    def names(self) -> tuple[str, ...]:
        """The layer names in graph order, as a tuple."""
        if len(self.ranges) == 1:
            start, stop = self.ranges[0]
            return self.order.names[start:stop]
        return tuple(self)

    @property
    def parameters(self) -> int:
        """The parameter count of the set's layers."""
        below = self.order.parameters_below
        return sum(below[stop] - below[start] for start, stop in self.ranges)

    @property
    def is_prefix(self) -> bool:
        """Whether the set is the first len(self) layers of the order (or empty)."""
        return not self.ranges or (len(self.ranges) == 1 and self.ranges[0][0] == 0)

    def positions(self) -> Iterator[int]:
        for start, stop in self.ranges:
            yield from range(start, stop)

    def complement(self) -> LayerSet:
        """Every layer of the order not in this set."""
        gaps, previous = [], 0
        for start, stop in self.ranges:
            if start > previous:
                gaps.append((previous, start))
            previous = stop
        if previous < len(self.order.names):
            gaps.append((previous, len(self.order.names)))
        return LayerSet(self.order, tuple(gaps))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        names = self.order.names
        for start, stop in self.ranges:
            yield from islice(names, start, stop)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self.names[index]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("layer set index out of range")
        for start, stop in self.ranges:
            if index < stop - start:
                return self.order.names[start + index]
            index -= stop - start
        raise IndexError("layer set index out of range")  # unreachable: the count bounds index

    def __contains__(self, name: object) -> bool:
        position = self.order.position.get(name) if isinstance(name, str) else None
        if position is None:
            return False
        slot = bisect_right(self._starts, position) - 1
        return slot >= 0 and position < self.ranges[slot][1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerSet):
            return NotImplemented
        return self.ranges == other.ranges and (
            self.order is other.order or self.order.names == other.order.names)

    def __hash__(self) -> int:
        return hash(self.ranges)

    def __repr__(self) -> str:
        shown = ", ".join(str(item) for item in self.to_json())
        return f"LayerSet([{shown}])"

    def to_json(self) -> list[Any]:
        """Names, with each stretch of more than LISTED_RUN consecutive layers as one object."""
        names, written = self.order.names, []
        for start, stop in self.ranges:
            if stop - start > LISTED_RUN:
                written.append({"from": names[start], "to": names[stop - 1],
                                "layers": stop - start})
            else:
                written.extend(names[start:stop])
        return written


def read_layer_set(written: list[Any], order: Sequence[str]) -> list[str]:
    """The names of a layer set as `to_json` wrote it, given the graph order (graph.json's)."""
    position = {name: index for index, name in enumerate(order)}
    names: list[str] = []
    for item in written:
        if isinstance(item, str):
            names.append(item)
        else:
            names.extend(order[position[item["from"]]:position[item["to"]] + 1])
    return names
