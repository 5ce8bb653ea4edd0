"""IR stage: Spec -> Graph.

Flattens groups into layers, wires default inputs (each layer reads the previous one), builds the
graph (layers and edges), rejects cycles and layers that do not lead to the output, and infers
every shape in topological order through the layer registry. Shape problems become diagnostics
at the layer's line in the YAML (the spec, the fragment or the override that wrote it).
"""

from __future__ import annotations

from nndsl.diagnostics import StageContext
from nndsl.ir.graph import INPUT, Graph, GraphNode, Unit
from nndsl.layers import LAYERS, Shape, ShapeProblem, format_shape
from nndsl.records import Record
from nndsl.spec import Spec
from nndsl.spec.network import GroupSpec, LayerSpec


class _FlatLayer(Record):
    layer: LayerSpec
    inputs: tuple[str, ...]
    unit: str
    block: str | None
    path: tuple[str | int, ...]


def lower(spec: Spec, input_shape: Shape | None, context: StageContext) -> Graph | None:
    """Build the graph of `spec`'s network.

    Args:
        spec: the validated spec.
        input_shape: the data's example shape; `network.input.shape` wins when given (a
            disagreement is reported by the check stage).
        context: its `locate` maps a spec path such as ("network", "layers", 2) to its span;
            its `diagnostics` receive E501-E507.
    """
    locate, diagnostics = context.locate, context.diagnostics
    shape = spec.network.input.shape if spec.network.input else input_shape
    if shape is None:
        diagnostics.add("E302", "the network's input shape is unknown", locate(("network",)),
                        "add `network: {input: {shape: [...]}}`")
        return None
    flat, units, group_inputs = _flatten(spec)
    names = {item.layer.name for item in flat}
    groups = {unit.name: unit.nodes[-1] for unit in units if unit.block is not None
              or len(unit.nodes) > 1}
    # A group's `block_input` is its first layer's input, itself possibly a group (its last layer).
    groups.update({alias: groups.get(source, source) for alias, source in group_inputs.items()})
    position = {item.layer.name: index for index, item in enumerate(flat)}
    edges: list[tuple[str, str, int]] = []
    for item in flat:
        for slot, source in enumerate(item.inputs):
            source = groups.get(source, source)
            if source in names or source == INPUT:
                edges.append((source, item.layer.name, slot))
    cycle = _find_cycle(names, edges)
    if cycle:
        first = next(item for item in flat if item.layer.name == cycle[0])
        diagnostics.add("E501", "the layers form a cycle: " + " -> ".join([*cycle, cycle[0]]),
                        locate(first.path), "a layer's inputs must come before it")
        return None
    output = (groups.get(spec.network.output, spec.network.output) if spec.network.output
              else flat[-1].layer.name)
    feeding_output = _ancestors(output, edges) | {output}
    disconnected = [item for item in flat if item.layer.name not in feeding_output]
    for item in disconnected:
        diagnostics.add("E506", f"layer `{item.layer.name}` does not lead to the output `{output}`",
                        locate(item.path), "connect it with `inputs:` or remove it")
    if disconnected:
        return None
    order = _topological_order(names, edges, position)
    by_name = {item.layer.name: item for item in flat}
    shapes: dict[str, Shape] = {INPUT: tuple(shape)}
    layers: dict[str, GraphNode] = {}
    for name in order:
        item = by_name[name]
        node = _infer(item, [groups.get(source, source) for source in item.inputs], shapes, context)
        if node is None:
            return None
        shapes[name] = node.output_shape
        layers[name] = node
    return Graph(layers, tuple(edges), order, units, tuple(shape), output)


def _flatten(spec: Spec) -> tuple[list[_FlatLayer], tuple[Unit, ...], dict[str, str]]:
    """The layers in order, the top-level units, and each group's `G.block_input` -> its input."""
    flat: list[_FlatLayer] = []
    units: list[Unit] = []
    group_inputs: dict[str, str] = {}
    previous = INPUT

    def visit(items: tuple, path: tuple, unit: str | None, block: str | None,
              first_inputs: tuple | None) -> None:
        nonlocal previous
        for index, item in enumerate(items):
            item_path = (*path, index)
            if isinstance(item, GroupSpec):
                start = len(flat)
                first = first_inputs if index == 0 and first_inputs else (previous,)
                reads = item.inputs or first
                group_inputs[f"{item.group}.block_input"] = reads[0]
                visit(item.layers, (*item_path, "layers"), unit or item.group, block or item.block,
                      item.inputs)
                if unit is None:
                    units.append(Unit(item.group, tuple(entry.layer.name for entry in flat[start:]),
                                      item.block))
                continue
            assert isinstance(item, LayerSpec)
            inputs = item.inputs or (first_inputs if index == 0 and first_inputs else (previous,))
            flat.append(_FlatLayer(item, tuple(inputs), unit or item.name, block, item_path))
            if unit is None:
                units.append(Unit(item.name, (item.name,), None))
            previous = item.name

    visit(spec.network.layers, ("network", "layers"), None, None, None)
    return flat, tuple(units), group_inputs


def _find_cycle(names: set[str], edges: list[tuple[str, str, int]]) -> list[str] | None:
    """One cycle among the layers (in edge order), or None; iterative depth-first search."""
    successors: dict[str, list[str]] = {}
    for source, target, _ in edges:
        successors.setdefault(source, []).append(target)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in sorted(names):
        if state.get(root):
            continue
        path, stack = [root], [iter(successors.get(root, []))]
        state[root] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                return path[path.index(following):]
            elif not state.get(following):
                state[following] = 1
                path.append(following)
                stack.append(iter(successors.get(following, [])))
    return None


def _ancestors(target: str, edges: list[tuple[str, str, int]]) -> set[str]:
    """Every layer with a path to `target`."""
    predecessors: dict[str, list[str]] = {}
    for source, destination, _ in edges:
        predecessors.setdefault(destination, []).append(source)
    seen: set[str] = set()
    pending = [target]
    while pending:
        for source in predecessors.get(pending.pop(), []):
            if source not in seen:
                seen.add(source)
                pending.append(source)
    return seen


def _topological_order(names: set[str], edges: list[tuple[str, str, int]],
                       position: dict[str, int]) -> tuple[str, ...]:
    """Layers in dependency order, ties broken by their order in the spec (stable dumps)."""
    import heapq

    waiting = {name: 0 for name in names}
    successors: dict[str, list[str]] = {}
    for source, target, _ in edges:
        if source != INPUT:
            waiting[target] += 1
            successors.setdefault(source, []).append(target)
    ready = [(position[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for target in successors.get(name, []):
            waiting[target] -= 1
            if waiting[target] == 0:
                heapq.heappush(ready, (position[target], target))
    return tuple(order)


def _infer(item: _FlatLayer, sources: list[str], shapes: dict[str, Shape],
           context: StageContext) -> GraphNode | None:
    locate, diagnostics = context.locate, context.diagnostics
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
        diagnostics.add("E504", f"`{layer.name}` ({layer.type}) takes {wanted} input(s), got "
                                f"{len(input_shapes)}",
                        locate(item.path), hint)
        return None
    try:
        output_shape = record.output_shape(layer.params, input_shapes)
        parameters = record.parameter_count(layer.params, input_shapes)
    except ShapeProblem as problem:
        inputs = ", ".join(format_shape(shape) for shape in input_shapes)
        diagnostics.add(problem.code, f"layer `{layer.name}` ({layer.type}) on input {inputs}: "
                                      f"{problem.message}",
                        locate(item.path), problem.hint)
        return None
    return GraphNode(layer.name, layer.type, layer.params, tuple(sources), tuple(input_shapes),
                     output_shape,
                     parameters, record.activation(layer.params), item.unit, item.block,
                     locate(item.path), record.recurrent)
