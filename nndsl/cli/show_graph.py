"""Command-line layer: `nndsl show --format graphml|dot`, the network as a graph file.

In: a compiled spec (graph and plan). Out: GraphML (networkx's writer; opens in Gephi, yEd,
Cytoscape) or Graphviz DOT (networkx's pydot writer; needs the `pydot` package, the `graph`
extra) text. Only this module imports networkx for output, and only when asked.

Attributes, all plain strings, integers or booleans so every format keeps them. Graph: `name`,
`input_shape`, `parameter_count`, `cuts`, `phases`. Nodes (layer names, plus `input`): `type`,
`output_shape`, `input_shapes`, `parameter_count`, `activation`, `unit`, `block` ("" outside
blocks), `recurrent`, `label` (name, type and shape, what Graphviz draws), per cut `cut_<cut>`
(`extractor` or `classifier`), per phase `phase_<phase>` (`trainable`, `frozen`,
`reinitialised` — re-initialised layers also train — or `untouched`; a top-down phase's first
attempt), and under a memory budget `checkpoint_segment` (the index of the checkpointed segment
holding the layer, -1 for none). Edges: `slot`, the input position of the target layer.
In attribute names, characters other than letters, digits and `_` of a cut or phase name become
`_` (DOT allows no others unquoted), with `_2`, `_3`, ... added should two names then collide.
"""

from __future__ import annotations

import io
import re
from typing import Any

from nndsl.api import Compiled
from nndsl.ir import INPUT
from nndsl.layers import format_shape


class GraphFormatError(Exception):
    """The asked-for format needs a package that is not installed (one line, exit 2)."""


def graph_with_attributes(compiled: Compiled) -> Any:
    """A networkx DiGraph of the network with the plan's facts as plain attributes."""
    import networkx

    graph, plan = compiled.graph, compiled.plan
    assert graph is not None and plan is not None
    result = networkx.DiGraph(
        name=plan.name, input_shape=format_shape(graph.input_shape),
        parameter_count=graph.parameter_count,
        cuts=",".join(cut.name for cut in plan.cuts),
        phases=",".join(phase.name for phase in plan.phases))
    segments = {layer: index for index, segment in enumerate(
        plan.memory.checkpoint_segments if plan.memory else ()) for layer in segment}
    result.add_node(INPUT, type="input", output_shape=format_shape(graph.input_shape),
                    label=f"input\n{format_shape(graph.input_shape)}")
    cut_keys = _attribute_names("cut_", [cut.name for cut in plan.cuts])
    phase_keys = _attribute_names("phase_", [phase.name for phase in plan.phases])
    for node in graph.nodes:
        attributes: dict[str, Any] = {
            "type": node.type, "output_shape": format_shape(node.output_shape),
            "input_shapes": " ".join(format_shape(shape) for shape in node.input_shapes),
            "parameter_count": node.parameter_count, "activation": node.activation or "",
            "unit": node.unit, "block": node.block or "", "recurrent": node.recurrent,
            "label": f"{node.name}\n{node.type} {format_shape(node.output_shape)}",
        }
        for cut, key in zip(plan.cuts, cut_keys):
            attributes[key] = "extractor" if node.name in cut.extractor else "classifier"
        for phase, key in zip(plan.phases, phase_keys):
            attributes[key] = _state(node.name, phase)
        if plan.memory is not None:
            attributes["checkpoint_segment"] = segments.get(node.name, -1)
        result.add_node(node.name, **attributes)
    for source, target, slot in graph.edges:
        result.add_edge(source, target, slot=slot)
    return result


def _attribute_names(prefix: str, names: list[str]) -> list[str]:
    """`prefix` + each name with other characters than letters, digits and `_` made `_`;
    names that then collide get `_2`, `_3`, ..."""
    keys: list[str] = []
    for name in names:
        key = prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)
        candidate, count = key, 1
        while candidate in keys:
            count += 1
            candidate = f"{key}_{count}"
        keys.append(candidate)
    return keys


def _state(layer: str, phase: Any) -> str:
    if layer in phase.reinitialised:
        return "reinitialised"
    if layer in phase.trainable:
        return "trainable"
    return "frozen" if layer in phase.frozen else "untouched"


def graph_text(compiled: Compiled, kind: str) -> str:
    """The network as GraphML or DOT text.

    Raises:
        GraphFormatError: DOT without the pydot package.
    """
    graph = graph_with_attributes(compiled)
    if kind == "graphml":
        import networkx

        buffer = io.BytesIO()
        networkx.write_graphml(graph, buffer, encoding="utf-8")
        return buffer.getvalue().decode("utf-8")
    import importlib.util

    if importlib.util.find_spec("pydot") is None:
        raise GraphFormatError("--format dot needs the pydot package: pip install 'nndsl[graph]' "
                               "(or use --format graphml)")
    from networkx.drawing.nx_pydot import to_pydot

    # networkx's pydot writer takes the graph's own attributes from graph["graph"] only.
    graph.graph["graph"] = {key: value for key, value in graph.graph.items() if key != "name"}
    return str(to_pydot(graph).to_string())
