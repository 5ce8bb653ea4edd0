"""Plan stage: the ensemble's members, what they share, their seeds and how they run.

With `share: CUT` the layers below the cut form one trunk and the members are M copies of the
layers above it (one feature extractor, M classifier heads); otherwise every member is a whole
network. Members of one architecture run as one vectorised module unless a layer cannot be
vectorised (recurrent layers: torch.func.vmap has no batching rule for their fused kernels).
"""

from __future__ import annotations

from nndsl.diagnostics import StageContext
from nndsl.ir import Graph
from nndsl.plan.plan import CutPlan, EnsemblePlan, PhasePlan
from nndsl.spec import Spec

MEMBER_SEED_STRIDE = 1000


def plan_ensemble(spec: Spec, graph: Graph, cuts: dict[str, CutPlan], phases: tuple[PhasePlan, ...],
                  context: StageContext, input_kind: str | None) -> EnsemblePlan | None:
    locate, diagnostics = context.locate, context.diagnostics
    ensemble = spec.ensemble
    if ensemble is None:
        return None
    if input_kind == "sequence":
        diagnostics.add("E605", "ensembles over variable-length sequences are not supported",
                        locate(("ensemble",)),
                        "use an ensemble on fixed-size inputs, or train the members as separate "
                        "runs")
        return None
    if spec.loss.type == "ctc":
        diagnostics.add("E605", "ensembles with a CTC loss are not supported",
                        locate(("ensemble",)))
        return None
    if any(phase.search is not None for phase in phases):
        diagnostics.add("E605", "a top_down phase cannot run on an ensemble yet",
                        locate(("ensemble",)),
                        "train the ensemble with joint or train phases (freeze: [classifier:CUT] "
                        "works)")
        return None
    shared: tuple[str, ...] = ()
    if ensemble.share is not None:
        cut = cuts.get(ensemble.share)
        if cut is None:
            return None  # the missing cut is reported by the check stage
        shared = cut.extractor.names
        boundary = [name for name in shared
                    if any(target not in cut.extractor for target in graph.successors(name))]
        if len(boundary) != 1:
            diagnostics.add("E605", f"members can share the extractor of `{ensemble.share}` only "
                            f"if one layer feeds the heads; here {len(boundary)} do "
                            f"({', '.join(boundary)})",
                            locate(("ensemble", "share")), "choose a cut after a single layer or "
                                                           "group")
            return None
    shared_set = set(shared)
    members = tuple(name for name in graph.order if name not in shared_set)
    recurrent = [name for name in members if graph.node(name).recurrent]
    reason = None
    if not ensemble.vectorise:
        reason = "vectorisation turned off in the spec"
    elif recurrent:
        reason = f"recurrent layer `{recurrent[0]}` cannot be vectorised with torch.func.vmap"
    elif spec.memory is not None:
        reason = "the memory budget's checkpointing cannot run under torch.func.vmap"
    shared_parameters = sum(graph.node(name).parameter_count for name in shared)
    member_parameters = sum(graph.node(name).parameter_count for name in members)
    total = max(1, graph.parameter_count)
    return EnsemblePlan(
        members=ensemble.members, method=ensemble.method,
        k=ensemble.k if ensemble.method == "smcl" else ensemble.members,
        share=ensemble.share, shared_layers=shared, member_layers=members, combine=ensemble.combine,
        seeds=tuple(spec.seed + MEMBER_SEED_STRIDE * (index + 1)
                    for index in range(ensemble.members)),
        vectorised=reason is None, fallback_reason=reason,
        memory_multiplier=(shared_parameters + ensemble.members * member_parameters) / total)
