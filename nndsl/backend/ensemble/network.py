"""Backend stage: the planned ensemble as one module (trunk + M members) over the IR graph.

In: the graph and the plan's `EnsemblePlan`. Out: a module mapping `[B, ...]` inputs (or
`[M, B, ...]` per-member inputs, for bagging) to stacked member outputs `[M, B, ...]`, and
exposing each layer's parameters by layer name so phases can freeze them and the plan's
parameter groups can hold them — for stacked (vectorised) members too.
"""

from __future__ import annotations

import torch
from torch import nn

from nndsl.backend.ensemble.members import Ensemble
from nndsl.backend.graph_module import GraphModule
from nndsl.ir import INPUT, Graph
from nndsl.plan import EnsemblePlan, MemoryPlan, TemperingPlan
from nndsl.state_names import layer_prefix


class EnsembleNetwork(nn.Module):
    """A shared trunk (the extractor below `share`, if any) and M member networks."""

    def __init__(self, graph: Graph, plan: EnsemblePlan, tempering: TemperingPlan | None = None,
                 memory: MemoryPlan | None = None):  # a budget's checkpoints, in every part
        super().__init__()
        self.order = list(graph.order)
        self.shared_layers = set(plan.shared_layers)
        self.trunk: GraphModule | None = None
        source = INPUT
        if plan.shared_layers:
            source = next(name for name in reversed(plan.shared_layers)
                          if any(target not in self.shared_layers
                                 for target in graph.successors(name)))
            self.trunk = GraphModule(graph, tempering, layers=plan.shared_layers, output=source,
                                     tensor_only=True, memory=memory)
        seeds = plan.seeds

        def member(index: int) -> nn.Module:
            torch.manual_seed(seeds[index])
            return GraphModule(graph, tempering, layers=plan.member_layers, source=source,
                               tensor_only=True, memory=memory)

        self.members = Ensemble(member, plan.members, shared=self.trunk, vectorise=plan.vectorised)

    def forward(self, inputs: torch.Tensor, per_member: bool = False) -> torch.Tensor:
        return self.members(inputs, per_member=per_member)  # [M, B, ...]

    def layer_parameters(self, name: str) -> list[tuple[str, nn.Parameter]]:
        """The parameters of layer `name`: the trunk's, or every member's (stacked or listed)."""
        if name in self.shared_layers and self.trunk is not None:
            return self.trunk.layer_parameters(name)
        prefix = layer_prefix(name)
        return [(parameter_name[len(prefix):], parameter)
                for parameter_name, parameters in self.members.parameters_by_member_name().items()
                if parameter_name.startswith(prefix) for parameter in parameters]

    def reset_layers(self, names: tuple[str, ...], generator_seed: int) -> None:
        raise NotImplementedError("re-initialising ensemble layers is rejected at planning time")
