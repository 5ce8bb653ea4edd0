"""IR stage, output type: `Graph`, the expanded network with shapes and sizes.

`Graph.digraph` is the networkx DiGraph view (nodes are layer names plus "input", each carrying
its frozen `GraphNode` under the "node" attribute; edges carry the input slot). It is built on
first use: the compiler's own passes walk the adjacency lists here, because importing networkx
costs about a third of `nndsl validate`'s time. `units` lists the top-level units (single layers or
groups from blocks) in order: the boundaries `cuts: units` uses and the folding `nndsl show` does.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nndsl.diagnostics import Span
from nndsl.layers import Shape
from nndsl.records import Record

INPUT = "input"


class GraphNode(Record):
    """One layer with everything later stages need, computed once."""

    name: str
    type: str
    params: Any
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    parameter_count: int
    activation: str
    unit: str
    block: str | None
    span: Span | None
    recurrent: bool = False


class Unit(Record):
    """A top-level unit: a lone layer or a group; `nodes` in order."""

    name: str
    nodes: tuple[str, ...]
    block: str | None


@dataclass(frozen=True)
class Graph:
    """The network graph: layers in topological order, units, input and output."""

    layers: dict[str, GraphNode]
    edges: tuple[tuple[str, str, int], ...]  # (source, target, input slot)
    order: tuple[str, ...]
    units: tuple[Unit, ...]
    input_shape: Shape
    output: str
    _successors: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for source, target, _ in self.edges:
            self._successors.setdefault(source, []).append(target)

    @cached_property
    def digraph(self) -> Any:
        """The graph as a networkx DiGraph (imported on first use)."""
        import networkx

        digraph = networkx.DiGraph()
        digraph.add_node(INPUT)
        for name, node in self.layers.items():
            digraph.add_node(name, node=node)
        for source, target, slot in self.edges:
            digraph.add_edge(source, target, slot=slot)
        return digraph

    def node(self, name: str) -> GraphNode:
        return self.layers[name]

    @property
    def nodes(self) -> list[GraphNode]:
        """Layers in topological order (the input node excluded)."""
        return [self.node(name) for name in self.order]

    @property
    def parameter_count(self) -> int:
        return sum(node.parameter_count for node in self.nodes)

    def successors(self, name: str) -> list[str]:
        return list(self._successors.get(name, []))

    def predecessors(self, name: str) -> list[str]:
        return list(dict.fromkeys(self.layers[name].inputs)) if name in self.layers else []

    def match_names(self, pattern: str) -> list[str]:
        """Layers whose name, or whose unit's name, matches a glob (a unit selects its layers)."""
        return [node.name for node in self.nodes
                if fnmatch.fnmatchcase(node.name, pattern)
                or fnmatch.fnmatchcase(node.unit, pattern)]

    def match_type(self, layer_type: str) -> list[str]:
        return [node.name for node in self.nodes if node.type == layer_type]

    def to_dict(self) -> dict[str, Any]:
        """A stable plain dump (for golden files and the run directory)."""
        return {
            "input_shape": list(self.input_shape),
            "output": self.output,
            "units": [{"name": unit.name, "block": unit.block, "nodes": list(unit.nodes)}
                      for unit in self.units],
            "nodes": [
                {"name": node.name, "type": node.type, "inputs": list(node.inputs),
                 "output_shape": list(node.output_shape), "parameters": node.parameter_count,
                 "activation": node.activation, "unit": node.unit,
                 "params": node.params.model_dump(mode="json")}
                for node in self.nodes
            ],
            "parameters": self.parameter_count,
        }
