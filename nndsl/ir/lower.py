"""IR stage: Spec -> Graph.

Flattens groups into layers, wires default inputs (each layer reads the previous one), builds the
networkx graph, rejects cycles and layers that do not lead to the output, and infers every shape
in topological order through the layer registry. Shape problems become diagnostics at the layer's
line in the YAML (the spec, the fragment or the override that wrote it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from nndsl.diagnostics import DiagnosticList, Span
from nndsl.ir.graph import INPUT, Graph, GraphNode, Unit
from nndsl.layers import LAYERS, Shape, ShapeProblem, format_shape
from nndsl.spec import Spec
from nndsl.spec.network import GroupSpec, LayerSpec

Locator = Callable[[tuple[str | int, ...]], Span | None]


@dataclass(frozen=True)
class _FlatLayer:
    layer: LayerSpec
    inputs: tuple[str, ...]
    unit: str
    block: str | None
    path: tuple[str | int, ...]


def lower(spec: Spec, input_shape: Shape | None, locate: Locator, diagnostics: DiagnosticList) -> Graph | None:
    """Build the graph of `spec`'s network.

    Args:
        spec: the validated spec.
        input_shape: the data's example shape; `network.input.shape` wins when given (a
            disagreement is reported by the check stage).
        locate: maps a spec path such as ("network", "layers", 2) to its span.
        diagnostics: receives E501-E507.
    """
    shape = spec.network.input.shape if spec.network.input else input_shape
    if shape is None:
        diagnostics.add("E302", "the network's input shape is unknown", locate(("network",)),
                        "add `network: {input: {shape: [...]}}`")
        return None
    flat, units = _flatten(spec)
    names = {item.layer.name for item in flat}
    groups = {unit.name: unit.nodes[-1] for unit in units if unit.block is not None or len(unit.nodes) > 1}
    digraph = nx.DiGraph()
    digraph.add_node(INPUT)
    for item in flat:
        digraph.add_node(item.layer.name)
    for item in flat:
        for slot, source in enumerate(item.inputs):
            source = groups.get(source, source)
            if source in names or source == INPUT:
                digraph.add_edge(source, item.layer.name, slot=slot)
    cycle = _find_cycle(digraph)
    if cycle:
        first = next(item for item in flat if item.layer.name == cycle[0])
        diagnostics.add("E501", "the layers form a cycle: " + " -> ".join([*cycle, cycle[0]]),
                        locate(first.path), "a layer's inputs must come before it")
        return None
    output = groups.get(spec.network.output, spec.network.output) if spec.network.output else flat[-1].layer.name
    disconnected = [item for item in flat if item.layer.name != output
                    and not nx.has_path(digraph, item.layer.name, output)]
    for item in disconnected:
        diagnostics.add("E506", f"layer `{item.layer.name}` does not lead to the output `{output}`",
                        locate(item.path), "connect it with `inputs:` or remove it")
    if disconnected:
        return None
    order = tuple(name for name in nx.lexicographical_topological_sort(digraph, key=_position(flat)) if name != INPUT)
    by_name = {item.layer.name: item for item in flat}
    shapes: dict[str, Shape] = {INPUT: tuple(shape)}
    for name in order:
        item = by_name[name]
        node = _infer(item, [groups.get(source, source) for source in item.inputs], shapes, locate, diagnostics)
        if node is None:
            return None
        shapes[name] = node.output_shape
        digraph.nodes[name]["node"] = node
    return Graph(digraph, order, units, tuple(shape), output)


def _flatten(spec: Spec) -> tuple[list[_FlatLayer], tuple[Unit, ...]]:
    flat: list[_FlatLayer] = []
    units: list[Unit] = []
    previous = INPUT

    def visit(items: tuple, path: tuple, unit: str | None, block: str | None, first_inputs: tuple | None) -> None:
        nonlocal previous
        for index, item in enumerate(items):
            item_path = (*path, index)
            if isinstance(item, GroupSpec):
                start = len(flat)
                visit(item.layers, (*item_path, "layers"), unit or item.group, block or item.block, item.inputs)
                if unit is None:
                    units.append(Unit(item.group, tuple(entry.layer.name for entry in flat[start:]), item.block))
                continue
            assert isinstance(item, LayerSpec)
            inputs = item.inputs or (first_inputs if index == 0 and first_inputs else (previous,))
            flat.append(_FlatLayer(item, tuple(inputs), unit or item.name, block, item_path))
            if unit is None:
                units.append(Unit(item.name, (item.name,), None))
            previous = item.name

    visit(spec.network.layers, ("network", "layers"), None, None, None)
    return flat, tuple(units)


def _position(flat: list[_FlatLayer]) -> Callable[[str], str]:
    positions = {item.layer.name: f"{index:08d}" for index, item in enumerate(flat)}
    return lambda name: positions.get(name, "")


def _find_cycle(digraph: nx.DiGraph) -> list[str] | None:
    try:
        edges = nx.find_cycle(digraph)
    except nx.NetworkXNoCycle:
        return None
    return [source for source, _ in edges]


def _infer(item: _FlatLayer, sources: list[str], shapes: dict[str, Shape], locate: Locator,
           diagnostics: DiagnosticList) -> GraphNode | None:
    layer = item.layer
    record = LAYERS.get(layer.type)
    assert record is not None  # unknown types were rejected by the spec stage
    input_shapes = [shapes[source] for source in sources]
    minimum, maximum = record.inputs
    if len(input_shapes) < minimum or (maximum is not None and len(input_shapes) > maximum):
        wanted = f"{minimum}" if minimum == maximum else f"at least {minimum}"
        too_many = maximum is not None and len(input_shapes) > maximum
        hint = "join the inputs first with a `concat` or `add` layer" if too_many \
            else "list its inputs with `inputs: [a, b]`"
        diagnostics.add("E504", f"`{layer.name}` ({layer.type}) takes {wanted} input(s), got {len(input_shapes)}",
                        locate(item.path), hint)
        return None
    try:
        output_shape = record.output_shape(layer.params, input_shapes)
        parameters = record.parameter_count(layer.params, input_shapes)
    except ShapeProblem as problem:
        inputs = ", ".join(format_shape(shape) for shape in input_shapes)
        diagnostics.add(problem.code, f"layer `{layer.name}` ({layer.type}) on input {inputs}: {problem.message}",
                        locate(item.path), problem.hint)
        return None
    return GraphNode(layer.name, layer.type, layer.params, tuple(sources), tuple(input_shapes), output_shape,
                     parameters, record.activation(layer.params), item.unit, item.block, locate(item.path),
                     record.recurrent)
