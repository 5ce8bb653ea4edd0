"""Backend stage: the network a plan describes, untrained.

In: the IR graph and the plan. Out: one `GraphModule` (with the plan's tempering and memory
decisions), or, when the plan has an ensemble, an `EnsembleNetwork` of its members. Training
(`nndsl.run.session`) and a finished run reopened for prediction (`nndsl.run.trained`) build it
here, so both get the same modules and state-dict keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nndsl.backend.graph_module import GraphModule
from nndsl.ir import Graph
from nndsl.plan import Plan

if TYPE_CHECKING:  # the ensemble's modules load only for a plan with an ensemble
    from nndsl.backend.datamodule import ArrayDataModule
    from nndsl.backend.ensemble.network import EnsembleNetwork
    from nndsl.backend.streaming import StreamingDataModule

    #: The networks a plan describes.
    Network = GraphModule | EnsembleNetwork
    #: The data modules a data source is loaded into (in memory, or read as batches are drawn).
    DataModule = ArrayDataModule | StreamingDataModule


def build_planned_network(graph: Graph, plan: Plan) -> Network:
    """The plan's network, its weights freshly initialised (from torch's current seed)."""
    if plan.ensemble is None:
        return GraphModule(graph, plan.tempering, memory=plan.memory)
    from nndsl.backend.ensemble.network import EnsembleNetwork

    return EnsembleNetwork(graph, plan.ensemble, plan.tempering, plan.memory)
