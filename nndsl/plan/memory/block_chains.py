"""Plan stage: feed-forward chains at block granularity — a residual block is one chain element.

In: the IR graph, the batch size and the sequence length planned for. Out: chains of elements,
each element a single layer (as in `nndsl.plan.memory.chains`) or a whole block: a top-level group
(a `{block: ...}` repetition) whose layers read one tensor from outside (the block's input) and
hand one tensor on (its last layer's output), with skip connections or branches inside — a
transformer layer, a ResNet block, a conformer block. Activation checkpointing is used that way
in practice: a checkpoint at a block boundary keeps one tensor, however the block is wired.

A block element becomes one `ChainLayer` for `nndsl.plan.memory.segments`: its input is the block's
input, its output the last layer's, and its private bytes everything its layers keep for
backward in between — each tensor counted once (a tensor is kept when its layer saves its output
or a layer reading it saves its input), plus the layers' private tensors. Blocks that are plain
runs of layers stay per layer (finer segment boundaries); blocks holding a recurrent layer or
reading several outside tensors stay per layer too (and end chains where the per-layer rules say).
"""

from __future__ import annotations

from nndsl.ir import INPUT, Graph, GraphNode, Unit
from nndsl.plan.memory.chains import chain_layers
from nndsl.plan.memory.segments import ChainLayer
from nndsl.records import Record


class ChainElement(Record):
    """One step of a chain: a layer, or a block's layers (in order) run as one unit."""

    name: str  # the layer's name, or the block's (its group's)
    nodes: tuple[str, ...]
    entry: str  # the tensor it reads: a layer name, or "input"


def find_block_chains(graph: Graph) -> list[list[ChainElement]]:
    """Maximal chains of elements: each element reads only the previous one's output, and that
    output feeds nothing else."""
    chains: list[list[ChainElement]] = []
    current: list[ChainElement] = []
    for element in _elements(graph):
        if element is None:  # a layer that ends chains (recurrent, several inputs)
            if current:
                chains.append(current)
            current = []
            continue
        previous = current[-1] if current else None
        continues = (previous is not None and element.entry == previous.nodes[-1]
                     and set(graph.successors(previous.nodes[-1])) <= set(element.nodes))
        if not continues and current:
            chains.append(current)
            current = []
        current.append(element)
    if current:
        chains.append(current)
    return chains


def element_layers(graph: Graph, chain: list[ChainElement], batch: int,
                   length: int | None) -> list[ChainLayer]:
    """`ChainLayer` estimates for a chain of elements (blocks summed as in the module docstring)."""
    return [_alone(graph, graph.node(element.nodes[0]), batch, length) if len(element.nodes) == 1
            else _block_layer(graph, element, batch, length) for element in chain]


def expand(names: tuple[str, ...], chain: list[ChainElement]) -> tuple[str, ...]:
    """Element names to the layer names they stand for (what the backend runs)."""
    by_name = {element.name: element.nodes for element in chain}
    return tuple(node for name in names for node in by_name.get(name, (name,)))


def _elements(graph: Graph) -> list[ChainElement | None]:
    """The graph's layers in order, grouped into blocks where a block qualifies; None for a
    layer no chain can hold."""
    blocks = {unit.nodes[0]: unit for unit in graph.units if _is_block(graph, unit)}
    elements: list[ChainElement | None] = []
    skip: set[str] = set()
    for node in graph.nodes:
        if node.name in skip:
            continue
        unit = blocks.get(node.name)
        if unit is not None:
            skip.update(unit.nodes)
            entry = next(source for name in unit.nodes for source in graph.node(name).inputs
                         if source not in unit.nodes)
            elements.append(ChainElement(name=unit.name, nodes=unit.nodes, entry=entry))
        elif not node.recurrent and len(node.inputs) == 1:
            elements.append(ChainElement(name=node.name, nodes=(node.name,), entry=node.inputs[0]))
        else:
            elements.append(None)
    return elements


def _is_block(graph: Graph, unit: Unit) -> bool:
    """A group with one outside input, one outside output (its last layer), contiguous in the
    layer order, no recurrent layer, and a skip or branch inside (else per-layer is finer)."""
    if len(unit.nodes) < 2:
        return False
    inside = set(unit.nodes)
    nodes = [graph.node(name) for name in unit.nodes]
    outside_inputs = {source for node in nodes for source in node.inputs if source not in inside}
    leaks = any(not set(graph.successors(node.name)) <= inside for node in nodes[:-1])
    start = graph.order.index(unit.nodes[0])
    contiguous = graph.order[start:start + len(unit.nodes)] == unit.nodes
    branched = any(len(node.inputs) > 1 for node in nodes) \
        or any(len(graph.successors(node.name)) > 1 for node in nodes[:-1])
    return (len(outside_inputs) == 1 and not leaks and contiguous and branched
            and not any(node.recurrent for node in nodes))


def _block_layer(graph: Graph, element: ChainElement, batch: int, length: int | None) -> ChainLayer:
    nodes = [graph.node(name) for name in element.nodes]
    estimates = {node.name: _alone(graph, node, batch, length) for node in nodes}
    entry_bytes = 0 if element.entry == INPUT else _bytes_of(graph, element.entry, batch, length)

    def kept(tensor: str) -> bool:
        producer = estimates.get(tensor)
        if producer is not None and producer.saves_output:
            return True
        return any(node.inputs[0] == tensor and estimates[node.name].saves_input for node in nodes)

    exit_name = element.nodes[-1]
    internal = sum(estimates[name].output_bytes for name in element.nodes[:-1] if kept(name))
    private = sum(estimate.private_bytes for estimate in estimates.values())
    exit_layer = estimates[exit_name]
    return ChainLayer(
        name=element.name, input_bytes=entry_bytes, output_bytes=exit_layer.output_bytes,
        saves_input=kept(element.entry), saves_output=exit_layer.saves_output,
        private_bytes=internal + private,
        forward_cost=sum(estimate.forward_cost for estimate in estimates.values()),
        checkpointable=all(estimate.checkpointable for estimate in estimates.values()),
        backward_cost=sum(2 * estimate.forward_cost if estimate.backward_cost is None
                          else estimate.backward_cost for estimate in estimates.values()))


def _alone(graph: Graph, node: GraphNode, batch: int, length: int | None) -> ChainLayer:
    return chain_layers(graph, [node], batch, length)[0]


def _bytes_of(graph: Graph, name: str, batch: int, length: int | None) -> int:
    return _alone(graph, graph.node(name), batch, length).output_bytes
