"""IR stage, output type: `Graph`, the expanded network as a networkx DiGraph with shapes and sizes.

Nodes are layer names (plus "input"); each carries a frozen `GraphNode` under the "node"
attribute; edges carry the input slot. `units` lists the top-level units (single layers or
groups from blocks) in order: the boundaries `cuts: units` uses and the folding `nndsl show` does.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import networkx as nx

from nndsl.diagnostics import Span
from nndsl.layers import Shape

INPUT = "input"


@dataclass(frozen=True)
class GraphNode:
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


@dataclass(frozen=True)
class Unit:
    """A top-level unit: a lone layer or a group; `nodes` in order."""

    name: str
    nodes: tuple[str, ...]
    block: str | None


@dataclass(frozen=True)
class Graph:
    """The network graph: layers in topological order, units, input and output."""

    digraph: nx.DiGraph
    order: tuple[str, ...]
    units: tuple[Unit, ...]
    input_shape: Shape
    output: str

    def node(self, name: str) -> GraphNode:
        return self.digraph.nodes[name]["node"]

    @property
    def nodes(self) -> list[GraphNode]:
        """Layers in topological order (the input node excluded)."""
        return [self.node(name) for name in self.order]

    @property
    def parameter_count(self) -> int:
        return sum(node.parameter_count for node in self.nodes)

    def successors(self, name: str) -> list[str]:
        return list(self.digraph.successors(name))

    def predecessors(self, name: str) -> list[str]:
        return [source for source in self.digraph.predecessors(name)]

    def match_names(self, pattern: str) -> list[str]:
        """Layers whose name, or whose unit's name, matches a glob (a unit selects its layers)."""
        return [node.name for node in self.nodes
                if fnmatch.fnmatchcase(node.name, pattern) or fnmatch.fnmatchcase(node.unit, pattern)]

    def match_type(self, layer_type: str) -> list[str]:
        return [node.name for node in self.nodes if node.type == layer_type]

    def to_dict(self) -> dict[str, Any]:
        """A stable plain dump (for golden files and the run directory)."""
        return {
            "input_shape": list(self.input_shape),
            "output": self.output,
            "units": [{"name": unit.name, "block": unit.block, "nodes": list(unit.nodes)} for unit in self.units],
            "nodes": [
                {"name": node.name, "type": node.type, "inputs": list(node.inputs),
                 "output_shape": list(node.output_shape), "parameters": node.parameter_count,
                 "activation": node.activation, "unit": node.unit,
                 "params": node.params.model_dump(mode="json")}
                for node in self.nodes
            ],
            "parameters": self.parameter_count,
        }
