"""Plan stage: the planner's prediction of a whole network's saved-activation peak.

In: a `MemoryPlan`, the graph, the batch size and the sequence length planned for. Out: two byte
counts for one training step of the whole network — `predicted`, the memory plan's figures
(each budgeted chain's and recurrent layer's predicted peak) plus the plain estimate of every
layer no budget part holds (layers between chains, chains checkpoints cannot shrink), and
`plain`, the same with plain backpropagation's peaks for the budgeted parts. Training puts its
measured peak beside them (`nndsl.backend.callbacks.activation_peak`).

The parts' peaks are added, which is an upper estimate of the network's (parts reach their own
peaks at different moments of the backward pass); for a network that is one chain it is that
chain's exact prediction. Estimates are float32 at the planned batch size and length, as in
`nndsl.plan.memory.budget`.
"""

from __future__ import annotations

from nndsl.ir import Graph
from nndsl.plan.memory.block_chains import find_block_chains
from nndsl.plan.memory.chains import chain_layers
from nndsl.plan.plan import MemoryPlan
from nndsl.plan.memory.segments import owned_bytes
from nndsl.records import Record


class NetworkPeak(Record):
    """Predicted and plain bytes of saved activations for one training step (whole network)."""

    predicted_bytes: int
    plain_bytes: int


def network_peak(memory: MemoryPlan, graph: Graph, batch: int,
                 length: int | None) -> NetworkPeak:
    """The budgeted parts' planned peaks plus plain estimates of every other layer."""
    element_nodes = {element.name: element.nodes
                     for chain in find_block_chains(graph) for element in chain}
    covered = {node for chain in memory.chains for name in chain.layers
               for node in element_nodes.get(name, (name,))}
    covered.update(layer.layer for layer in memory.recurrent)
    rest = sum(owned_bytes(chain_layers(graph, [node], batch, length), 0)
               for node in graph.nodes if node.name not in covered)
    predicted = rest + sum(chain.predicted_peak_bytes for chain in memory.chains) + sum(
        layer.predicted_peak_bytes for layer in memory.recurrent)
    plain = rest + sum(chain.plain_peak_bytes for chain in memory.chains) + sum(
        layer.plain_peak_bytes for layer in memory.recurrent)
    return NetworkPeak(int(predicted), int(plain))
