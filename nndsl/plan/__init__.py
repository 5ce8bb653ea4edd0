"""Plan stage: Graph + Spec -> Plan (cuts, phases, parameter groups with tempered rates,
memory policy, ensemble members). Pure Python: no torch.

Entry point: `make_plan(spec, graph, context)`.
"""

from __future__ import annotations

from nndsl.diagnostics import StageContext
from nndsl.ir import Graph
from nndsl.plan.phases import plan_phases
from nndsl.plan.plan import (Acceptance, CutPlan, EnsemblePlan, InitPlan, LayerInit, LayerRate,
                             LayerSlot, LossTermPlan, MemoryPlan, ParameterGroup, PhasePlan, Plan,
                             RecurrentMemoryPlan, RunPlan, StopPlan, TemperingPlan, TopDownSearch,
                             UnfreezeStage)
from nndsl.plan.rates import plan_rates
from nndsl.plan.regions import plan_cuts
from nndsl.plan.selection import plan_selections
from nndsl.records import replace

__all__ = ["Acceptance", "CutPlan", "EnsemblePlan", "InitPlan", "LayerInit", "LayerRate",
           "LayerSlot", "LossTermPlan", "MemoryPlan", "ParameterGroup", "PhasePlan", "Plan",
           "RecurrentMemoryPlan", "RunPlan", "StopPlan", "TemperingPlan", "TopDownSearch",
           "UnfreezeStage", "make_plan"]


def plan_loss_terms(spec, graph: Graph) -> tuple[LossTermPlan, ...]:
    """The loss terms the graph's layers add, in graph order, weighted by `loss.terms` (the
    layer's own `{layer: {term: w}}` before `{term: w}`; 1 when neither is written)."""
    from nndsl.layers import LAYERS

    weights = spec.loss.terms

    def weight(layer: str, term: str) -> float:
        own = weights.get(layer)
        if isinstance(own, dict) and term in own:
            return float(own[term])
        every = weights.get(term)
        return float(every) if isinstance(every, (int, float)) else 1.0

    return tuple(
        LossTermPlan(layer=node.name, term=term.name, weight=weight(node.name, term.name),
                     per_example=term.per_example, doc=term.doc)
        for node in graph.nodes for term in LAYERS.get(node.type).declared_loss_terms(node.params))


def make_plan(spec, graph: Graph, context: StageContext, input_kind: str | None = None) -> Plan:
    """Decide everything the backend will do."""
    cuts = plan_cuts(spec, graph, context)
    by_name = {cut.name: cut for cut in cuts}
    stages = {}
    if any(phase.phase == "gradual_unfreeze" for phase in spec.schedule):
        from nndsl.plan.gradual import expand_gradual  # only specs that use it

        # From here on the schedule holds the stages as `train` phases.
        spec, context, stages = expand_gradual(spec, graph, cuts, context)
    phases = plan_phases(spec, graph, cuts, context)
    phases = plan_selections(spec, graph, phases, context)
    groups, tempering = plan_rates(spec, spec.tempering, graph, by_name, spec.optimizer.lr, context)
    phases = tuple(_with_groups(spec, index, phase, graph, by_name, groups, context)
                   for index, phase in enumerate(phases))
    initial = None
    if spec.init_from is not None or any(phase.init_from for phase in spec.schedule):
        from nndsl.plan.init_from import plan_initialisations  # only specs that use it

        initial, phases = plan_initialisations(spec, graph, by_name, phases, context)
    if stages:
        phases = tuple(replace(phase, stage=stages.get(phase.name)) for phase in phases)
    if any(phase.optimizer.type == "lbfgs" for phase in phases):
        from nndsl.plan.optimizers import check_optimizers

        check_optimizers(spec, phases, context)
    loss_terms = plan_loss_terms(spec, graph)
    ensemble = memory = None
    # The ensemble and memory planners are imported only by specs that use them (validate's
    # start-up time; the recompute planner is the larger part).
    if spec.ensemble is not None:
        from nndsl.plan.ensemble import plan_ensemble

        ensemble = plan_ensemble(spec, graph, by_name, phases, context, input_kind)
    if spec.memory is not None:
        from nndsl.plan.memory.budget import plan_memory

        memory = plan_memory(spec, graph, context)
    return Plan(name=spec.name, seed=spec.seed, cuts=cuts, phases=phases, parameter_groups=groups,
                loss=spec.loss, loss_terms=loss_terms, tempering=tempering, ensemble=ensemble,
                memory=memory, init=initial)


def _with_groups(spec, index: int, phase: PhasePlan, graph: Graph, cuts: dict[str, CutPlan],
                 spec_groups: tuple[ParameterGroup, ...], context: StageContext) -> PhasePlan:
    """The phase with its own parameter groups: its optimiser's rate and its tempering rule."""
    phase_spec = spec.schedule[index] if index < len(spec.schedule) else None
    if phase_spec is not None and (phase_spec.optimizer is not None
                                   or phase_spec.tempering is not None):
        groups, _ = plan_rates(spec, phase_spec.tempering or spec.tempering, graph, cuts,
                               phase.optimizer.lr, context, path=("schedule", index, "tempering"))
    else:
        groups = spec_groups
    return replace(phase, parameter_groups=groups)
