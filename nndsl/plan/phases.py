"""Plan stage: phases with exact trainable, frozen and re-initialised layer sets, and the runs
(`RunPlan`) the run stage executes: one per phase, one per top-down attempt, one per cut a
`retrain_classifier` phase may take; trial phases carry their acceptance rule.

Checks here need the graph: selectors that match nothing (E404), phases that train nothing
(E405), layers both trained (by a selector other than `all`) and frozen (E406), a
`retrain_classifier` phase with no cut to work on (E411), and `classifier_from` checkpoints whose
classifier layers do not fit the graph (E414; read without torch, from the zip's pickle). A
top-down search skips cuts whose attempt would re-train no parameters, or the same ones as the
cut above.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nndsl.diagnostics import DiagnosticList, Span, StageContext
from nndsl.ir import Graph
from nndsl.plan.layer_sets import LayerOrder, LayerSet, layer_order
from nndsl.plan.plan import Acceptance, CutPlan, PhasePlan, RunPlan, StopPlan, TopDownSearch
from nndsl.plan.regions import select
from nndsl.records import Record
from nndsl.spec import Spec
from nndsl.spec.schedule import (AdaptPhase, EvaluatePhase, GradualUnfreezePhase, JointPhase,
                                 RetrainClassifierPhase, StopSpec, TopDownPhase, TrainPhase)
from nndsl.state_names import is_buffer, layer_prefix


def run_seed(seed: int, label: str) -> int:
    """A stable seed per run label: a run's re-initialisation (and its torch seed) depend on its
    label alone, so they repeat exactly on resume whatever ran before."""
    return (seed * 1_000_003 + zlib.crc32(label.encode())) % 2**31


def default_mode(monitor: str) -> str:
    """Whether higher is better for a metric name."""
    return "max" if monitor.endswith(("accuracy", "/f1_macro", "/f1_micro", "/r2")) else "min"


class _Schedule(Record):
    """What every phase planner reads besides its phase: the spec, the graph, the cuts by name
    and from the top of the network down (the order in which top-down tries them)."""

    spec: Spec
    graph: Graph
    by_name: dict[str, CutPlan]
    top_first: tuple[CutPlan, ...]
    context: StageContext
    layers: LayerOrder  # the graph order every layer set of the plan is a range of


def plan_phases(spec: Spec, graph: Graph, cuts: tuple[CutPlan, ...],
                context: StageContext) -> tuple[PhasePlan, ...]:
    """One `PhasePlan` per phase of the schedule, made by the planner of its kind (`PLANNERS`).

    A phase that cannot be planned is left out, with a diagnostic saying why (or, for phases that
    need cuts in a spec without any, the check stage's E403).
    """
    top_first = tuple(sorted(cuts, key=lambda cut: len(cut.extractor), reverse=True))
    schedule = _Schedule(spec, graph, {cut.name: cut for cut in cuts}, top_first, context,
                         layer_order(graph))
    phases: list[PhasePlan] = []
    for index, phase in enumerate(spec.schedule):
        name = phase.name or _default_name(phase.phase, index, spec)
        common = dict(name=name, kind=phase.phase, stop=_stop(phase.stop, spec),
                      optimizer=phase.optimizer or spec.optimizer, keep_best=phase.keep_best,
                      seed=spec.seed)
        planned = PLANNERS[type(phase)](schedule, index, phase, common, tuple(phases))
        if planned is not None:
            phases.append(planned)
    return tuple(phases)


def _plan_joint(schedule: _Schedule, index: int, phase: JointPhase, common: dict,
                earlier: tuple[PhasePlan, ...]) -> PhasePlan | None:
    """Every layer trained, none re-initialised."""
    return _phase(trainable=schedule.layers.everything(), reinitialised=schedule.layers.span(0, 0),
                  **common)


def _plan_evaluate(schedule: _Schedule, index: int, phase: EvaluatePhase, common: dict,
                   earlier: tuple[PhasePlan, ...]) -> PhasePlan | None:
    """No layer trained: the run stage scores the network (`nndsl.run.selection.evaluate`)."""
    nothing = schedule.layers.span(0, 0)
    return _phase(trainable=nothing, reinitialised=nothing, **common)


def _plan_train(schedule: _Schedule, index: int, phase: TrainPhase, common: dict,
                earlier: tuple[PhasePlan, ...]) -> PhasePlan | None:
    """The layers its `train`, `freeze` and `reinit` selectors pick (E404-E406)."""
    graph, by_name, name = schedule.graph, schedule.by_name, common["name"]
    locate, diagnostics = schedule.context.locate, schedule.context.diagnostics
    picked = {}
    named: set[str] = set()  # trained layers chosen by a selector other than `all`
    for field in ("train", "freeze", "reinit"):
        chosen: set[str] = set()
        for position, selector in enumerate(getattr(phase, field)):
            span = locate(("schedule", index, field, position))
            matched = set(select(selector, graph, by_name, span, diagnostics))
            chosen |= matched
            if field == "train" and selector.kind != "all":
                named |= matched
        picked[field] = chosen
    # `train: [all]` (the default) with `freeze:` means "all but these"; a layer is
    # contradictory only when a train selector picks it out by name, type or cut.
    overlap = sorted(named & picked["freeze"])
    if overlap:
        diagnostics.add("E406", f"phase `{name}` both trains and freezes {', '.join(overlap[:5])}",
                        locate(("schedule", index, "freeze")),
                        "a layer is either trained or frozen")
    trainable = schedule.layers.of(picked["train"] - picked["freeze"])
    reinit = schedule.layers.of(picked["reinit"])
    planned = _phase(trainable=trainable, reinitialised=reinit, **common)
    if planned.trainable_parameters == 0 and not overlap:  # E406 said why already
        diagnostics.add("E405", f"phase `{name}` trains no parameters", locate(("schedule", index)),
                        "select layers with parameters under `train:`")
    return planned


def _plan_top_down(schedule: _Schedule, index: int, phase: TopDownPhase, common: dict,
                   earlier: tuple[PhasePlan, ...]) -> PhasePlan | None:
    """One run per cut worth an attempt, from `first_cut` down to `last_cut` (E405, E411, E414)."""
    if not schedule.top_first:
        return None
    graph, by_name, name, spec = schedule.graph, schedule.by_name, common["name"], schedule.spec
    locate, diagnostics = schedule.context.locate, schedule.context.diagnostics
    names = [cut.name for cut in schedule.top_first]
    first = names.index(phase.first_cut) if phase.first_cut in names else 0
    last = names.index(phase.last_cut) if phase.last_cut in names else len(names) - 1
    if last < first:
        diagnostics.add("E411", f"top_down: last_cut `{phase.last_cut}` lies above first_cut "
                        f"`{phase.first_cut}`", locate(("schedule", index, "last_cut")),
                        "cuts are tried from the top down")
        return None
    order = _distinct_attempts(schedule.layers, [by_name[name] for name in names[first:last + 1]])
    if not order:
        diagnostics.add("E405", f"phase `{name}` trains nothing: every cut from "
                        f"`{names[first]}` to `{names[last]}` has no parameters below it",
                        locate(("schedule", index)),
                        "choose cuts above a layer with parameters")
        return None
    monitor_mode = phase.mode or default_mode(phase.monitor)
    cut = by_name[order[0]]
    checkpoints = tuple(_check_checkpoint(path, graph, cut, locate(()),
                                          locate(("schedule", index, "classifier_from", position)),
                                          diagnostics)
                        for position, path in enumerate(phase.classifier_from))
    search = TopDownSearch(order, phase.search, phase.monitor, monitor_mode, checkpoints)
    # Attempt n tries the n-th cut: each attempt either moves one cut down or ends the search.
    runs = tuple(_run(spec.seed, f"{name}/{number}-{attempt}", attempt, by_name[attempt].extractor,
                      by_name[attempt].extractor) for number, attempt in enumerate(order, start=1))
    return _phase(trainable=cut.extractor, reinitialised=cut.extractor, cut=cut.name,
                  search=search, runs=runs, accept=Acceptance(phase.monitor, monitor_mode),
                  **common)


def _plan_retrain_classifier(schedule: _Schedule, index: int, phase: RetrainClassifierPhase,
                             common: dict, earlier: tuple[PhasePlan, ...]) -> PhasePlan | None:
    """One run per cut the run stage may pick: the named one, or any an earlier search tries
    (E405, E411)."""
    if not schedule.top_first:
        return None
    by_name, name, stop = schedule.by_name, common["name"], common["stop"]
    locate, diagnostics = schedule.context.locate, schedule.context.diagnostics
    # Without `cut:` the cut is the one top-down accepted last, known only at run time;
    # the plan shows the first cut the preceding search tries, its fallback.
    searches = [plan for plan in earlier if plan.search is not None]
    if phase.cut is None and not searches:
        diagnostics.add("E411", f"phase `{name}` has no cut: no top_down phase comes before it",
                        locate(("schedule", index)), "name the cut, e.g. `cut: C3`, or put a "
                        "top_down phase before it")
        return None
    cut = by_name[phase.cut] if phase.cut in by_name else by_name[searches[-1].search.cuts[0]]
    # One run per cut the run stage may pick: the named one, or any an earlier search
    # tries (the last search's first cut, the fallback, first).
    candidates = [cut.name] if phase.cut in by_name else list(dict.fromkeys(
        [candidate for plan in reversed(searches) for candidate in plan.search.cuts]))
    nothing = schedule.layers.span(0, 0)
    runs = tuple(_run(schedule.spec.seed, name, candidate, by_name[candidate].classifier,
                      by_name[candidate].classifier if phase.reinit else nothing)
                 for candidate in candidates)
    planned = _phase(trainable=cut.classifier,
                     reinitialised=cut.classifier if phase.reinit else nothing,
                     cut=phase.cut, runs=runs, accept=Acceptance(stop.monitor, stop.mode), **common)
    if planned.trainable_parameters == 0:
        diagnostics.add("E405", f"phase `{name}` trains no parameters: the classifier above "
                        f"`{cut.name}` has none", locate(("schedule", index)), "choose a lower cut")
    return planned


def _plan_expanded(schedule: _Schedule, index: int, phase: GradualUnfreezePhase, common: dict,
                   earlier: tuple[PhasePlan, ...]) -> PhasePlan | None:
    """Never reached: `make_plan` first replaces each gradual_unfreeze phase by its `train`
    stages (`nndsl.plan.gradual`), which are planned like any `train` phase."""
    raise AssertionError("gradual_unfreeze phases are expanded before the phases are planned")


#: The planner of each phase kind. A kind added to the language gets its planner here (a kind
#: without one fails every plan at once, rather than being skipped).
PhasePlanner = Callable[[_Schedule, int, Any, dict, tuple[PhasePlan, ...]], PhasePlan | None]
PLANNERS: dict[type, PhasePlanner] = {
    JointPhase: _plan_joint,
    TrainPhase: _plan_train,
    TopDownPhase: _plan_top_down,
    RetrainClassifierPhase: _plan_retrain_classifier,
    AdaptPhase: _plan_train,  # its selectors are a train phase's; the run stage adapts
    GradualUnfreezePhase: _plan_expanded,
    EvaluatePhase: _plan_evaluate,
}


# Buffers, not parameters: a checkpoint holds them but the graph's parameter counts do not.


def _check_checkpoint(path: str, graph: Graph, cut: CutPlan, spec_span: Span | None,
                      span: Span | None, diagnostics: DiagnosticList) -> str:
    """The checkpoint's path resolved against the spec's folder (the working directory for a
    `--set` value); E414 when its classifier layers (those above `cut`) are missing or hold another
    number of values than the graph's layers. A file that does not exist yet (a run still to come)
    is a warning: training checks it again."""
    in_spec = (spec_span is not None and Path(spec_span.file).is_file()
               and (span is None or span.origin != "--set"))
    folder = Path(spec_span.file).parent if in_spec and spec_span is not None else Path()
    resolved = (folder / Path(path).expanduser()).resolve()
    if not resolved.is_file():
        diagnostics.add("E414", f"checkpoint `{path}` does not exist (yet)", span,
                        "train the run it comes from first; its RUN_DIR/final_weights.pt holds the "
                        "weights",
                        severity="warning")
        return str(resolved)
    # only specs naming one
    from nndsl.plan.checkpoint_shapes import CheckpointRefused, checkpoint_shapes

    try:
        shapes = checkpoint_shapes(resolved)
    except CheckpointRefused as refusal:
        diagnostics.add("E414",
                        f"checkpoint `{path}` is not a state dict nndsl can read: {refusal}", span,
                        "use a run's final_weights.pt or a checkpoints/<run>/state.pt")
        return str(resolved)
    for layer in cut.classifier:
        expected = graph.node(layer).parameter_count
        if expected == 0:
            continue
        prefix = layer_prefix(layer)
        held = {key: _count(shape) for key, shape in shapes.items() if key.startswith(prefix)}
        parameters = sum(count for key, count in held.items() if not is_buffer(key))
        if not held:
            diagnostics.add("E414", f"checkpoint `{path}` does not fit: it has no layer `{layer}`, "
                            f"which lies above cut `{cut.name}`", span,
                            "the checkpoint must come from a network with the same layer names "
                            "above the cut")
            break
        if expected not in (parameters, sum(held.values())):
            diagnostics.add("E414", f"checkpoint `{path}` does not fit: its layer `{layer}` holds "
                            f"{parameters:,} parameters, this network's holds {expected:,}", span,
                            "the layers above the cut must have the same sizes as in the run it "
                            "comes from")
            break
    return str(resolved)


def _count(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _distinct_attempts(layers: LayerOrder, cuts: list[CutPlan]) -> tuple[str, ...]:
    """The cuts worth an attempt, top first: each must re-train some parameters, and other ones
    than the cut tried just before (a cut beside a parameter-free layer such as `to_sequence`
    would repeat its neighbour's attempt; one below nothing but `add_channel` trains nothing).

    Extractors are compared by their layers with parameters; for prefixes of the graph order
    (every cut of `cuts: units`) their count decides, so n cuts cost time linear in n.
    """
    attempts: list[str] = []
    previous: LayerSet | None = None
    below = layers.parameters_below
    with_parameters = [below[index + 1] > below[index] for index in range(len(layers.names))]
    counted = [0]  # counted[i]: layers with parameters among the first i in graph order
    for has in with_parameters:
        counted.append(counted[-1] + has)

    def trained(extractor: LayerSet) -> int:
        return sum(counted[stop] - counted[start] for start, stop in extractor.ranges)

    def same(first: LayerSet, second: LayerSet) -> bool:
        if trained(first) != trained(second):
            return False
        if first.is_prefix and second.is_prefix:
            return True
        return ({index for index in first.positions() if with_parameters[index]}
                == {index for index in second.positions() if with_parameters[index]})

    for cut in cuts:
        if trained(cut.extractor) and (previous is None or not same(cut.extractor, previous)):
            attempts.append(cut.name)
        previous = cut.extractor
    return tuple(attempts)


def _stop(stop: StopSpec, spec: Spec) -> StopPlan:
    return StopPlan(monitor=stop.monitor,
                    mode=stop.mode or default_mode(stop.monitor),  # type: ignore[arg-type]
                    patience=stop.patience, max_epochs=stop.max_epochs or spec.trainer.max_epochs,
                    threshold=stop.threshold)


def _phase(seed: int, trainable: LayerSet, reinitialised: LayerSet,
           runs: tuple[RunPlan, ...] | None = None, **fields) -> PhasePlan:
    """The phase record; without `runs`, the phase is one run of its own sets, named as the
    phase."""
    frozen = trainable.complement()
    if runs is None:
        runs = (_run(seed, fields["name"], fields.get("cut"), trainable, reinitialised),)
    return PhasePlan(trainable=trainable, frozen=frozen, reinitialised=reinitialised,
                     trainable_parameters=trainable.parameters, frozen_parameters=frozen.parameters,
                     reinitialised_parameters=reinitialised.parameters, runs=runs, **fields)


def _run(seed: int, label: str, cut: str | None, trainable: LayerSet,
         reinitialised: LayerSet) -> RunPlan:
    return RunPlan(label=label, cut=cut, trainable=trainable, frozen=trainable.complement(),
                   reinitialised=reinitialised, seed=run_seed(seed, label))


def _default_name(kind: str, index: int, spec: Spec) -> str:
    """The kind itself, numbered only when the schedule repeats it."""
    repeats = sum(1 for phase in spec.schedule if phase.phase == kind) > 1
    return f"{kind}-{index + 1}" if repeats else kind
