"""Plan stage: a `gradual_unfreeze` phase expanded into ordinary `train` phases, one per stage.

In: the spec, the graph and its cuts. Out: a copy of the spec whose schedule holds the stages
(`NAME-1`, `NAME-2`, ...) in place of each `gradual_unfreeze` phase, a locator that places a
stage's diagnostics at the phase it came from, and an `UnfreezeStage` record per stage name.
Stage k trains the k top-most units with parameters (`by: units`) or the classifier above the
k-th cut from the top (`by: cuts`, the last stage then training everything), for its own epochs
at the phase optimiser's rate times its multiplier; the rest stays frozen. The stages are then
planned, run and resumed like any other phase. Problems with the phase: E469; a warmup longer
than a stage: E463.
"""

from __future__ import annotations

from nndsl.diagnostics import DiagnosticList, Span, StageContext
from nndsl.ir import Graph
from nndsl.plan.phases import _default_name
from nndsl.plan.plan import CutPlan, UnfreezeStage
from nndsl.spec import Selector, Spec
from nndsl.spec.schedule import GradualUnfreezePhase, TrainPhase


def expand_gradual(spec: Spec, graph: Graph, cuts: tuple[CutPlan, ...], context: StageContext,
                   ) -> tuple[Spec, StageContext, dict[str, UnfreezeStage]]:
    """The spec with every `gradual_unfreeze` phase replaced by its stages (see the module), and
    the context whose locator places the stages' diagnostics at the phase written."""
    locate, diagnostics = context.locate, context.diagnostics
    schedule, origin, stages = [], [], {}
    for index, phase in enumerate(spec.schedule):
        name = phase.name or _default_name(phase.phase, index, spec)
        if not isinstance(phase, GradualUnfreezePhase):
            # Named as before the expansion, so a phase's name does not depend on its neighbours.
            schedule.append(phase.model_copy(update={"name": name}))
            origin.append(index)
            continue
        for stage, train_phase in _stages(spec, phase, name, index, graph, cuts, context):
            schedule.append(train_phase)
            origin.append(index)
            stages[train_phase.name] = stage
    taken = [phase.name for phase in schedule]
    for position, phase_name in enumerate(taken):
        if phase_name in taken[:position] and phase_name in stages:
            diagnostics.add("E469", f"gradual_unfreeze stage `{phase_name}` has the name of "
                            "another phase", locate(("schedule", origin[position])),
                            "rename the phase: its stages are named NAME-1, NAME-2, ...")

    def located(path: tuple[str | int, ...]) -> Span | None:
        if len(path) >= 2 and path[0] == "schedule" and isinstance(path[1], int) \
                and 0 <= path[1] < len(origin):
            path = ("schedule", origin[path[1]], *path[2:])
        return locate(path)

    return (spec.model_copy(update={"schedule": tuple(schedule)}),
            StageContext(located, diagnostics), stages)


def _stages(spec: Spec, phase: GradualUnfreezePhase, name: str, index: int, graph: Graph,
            cuts: tuple[CutPlan, ...], context: StageContext,
            ) -> list[tuple[UnfreezeStage, TrainPhase]]:
    """The stages of one phase, or none after an E469."""
    locate, diagnostics = context.locate, context.diagnostics
    steps = _steps(phase, graph, cuts)
    where = locate(("schedule", index))
    if not steps:
        what = "cuts" if phase.by == "cuts" else "top-level units with parameters"
        diagnostics.add("E469", f"gradual_unfreeze by {phase.by}: the network has no {what}",
                        locate(("schedule", index, "by")) or where,
                        "add `cuts: units`" if phase.by == "cuts" else "unfreeze by units")
        return []
    count = phase.stages or len(steps)
    epochs = phase.epochs if isinstance(phase.epochs, tuple) else (phase.epochs,) * count
    multipliers = phase.lr_multipliers or (1.0,) * count
    problems = []
    if count > len(steps):
        what = "cuts and the whole network" if phase.by == "cuts" else "units"
        problems.append(("stages", f"{count} stages, but only {len(steps)} {what} to unfreeze",
                         f"at most `stages: {len(steps)}`"))
    for field, values in (("epochs", epochs), ("lr_multipliers", multipliers)):
        if len(values) != count:
            problems.append((field, f"{len(values)} {field} for {count} stages",
                             "give one per stage (or one number for `epochs`)"))
    tempering = phase.tempering or spec.tempering
    if any(value != 1.0 for value in multipliers) and (
            tempering.global_lr is not None or tempering.shunting):
        # The rate would then not come from the optimiser, so a multiplier could not act on it.
        problems.append(("lr_multipliers", "lr_multipliers scale the optimiser's rate, but "
                         "tempering sets the rate itself (global_lr or shunting)",
                         "remove tempering.global_lr / shunting, or the multipliers"))
    if phase.epochs is not None and phase.stop.max_epochs is not None:
        problems.append(("epochs", "both `epochs` and `stop.max_epochs` set the stages' epochs",
                         "keep one of them"))
    for field, message, hint in problems:
        diagnostics.add("E469", f"gradual_unfreeze: {message}",
                        locate(("schedule", index, field)) or where, hint)
    if problems:
        return []
    _check_warmup(spec, phase, epochs, locate(("schedule", index, "epochs")) or where,
                  diagnostics)
    optimizer = phase.optimizer or spec.optimizer
    expanded = []
    for number, ((unfrozen, selectors), stage_epochs, multiplier) in enumerate(
            zip(steps[:count], epochs, multipliers), start=1):
        stop = phase.stop if stage_epochs is None else phase.stop.model_copy(
            update={"max_epochs": stage_epochs})
        own = phase.optimizer is not None or multiplier != 1.0
        stage_name = f"{name}-{number}"
        expanded.append((
            UnfreezeStage(name, number, count, unfrozen, multiplier),
            TrainPhase(phase="train", name=stage_name, stop=stop, keep_best=phase.keep_best,
                       tempering=phase.tempering, train=tuple(map(str, selectors)),
                       init_from=phase.init_from if number == 1 else None,
                       optimizer=optimizer.model_copy(update={"lr": optimizer.lr * multiplier})
                       if own else None)))
    return expanded


def _steps(phase: GradualUnfreezePhase, graph: Graph, cuts: tuple[CutPlan, ...],
           ) -> list[tuple[tuple[str, ...], tuple[Selector, ...]]]:
    """Per possible stage, top first: what it adds (unit or cut names) and its train selectors."""
    if phase.by == "units":
        # A stage ends at a unit with parameters; parameter-free units above it come along.
        steps, above = [], []
        for unit in reversed(graph.units):
            above.append(Selector("name", unit.name))
            if any(graph.node(node).parameter_count for node in unit.nodes):
                steps.append(((unit.name,), tuple(above)))
        return steps
    steps, previous = [], -1
    for cut in sorted(cuts, key=lambda cut: len(cut.extractor), reverse=True):
        # A cut beside a parameter-free layer would repeat the stage above it.
        if cut.classifier_parameters != previous:
            steps.append(((f"classifier:{cut.name}",), (Selector("classifier", cut.name),)))
            previous = cut.classifier_parameters
    if steps:
        steps.append((("all",), (Selector("all"),)))
    return steps


def _check_warmup(spec: Spec, phase: GradualUnfreezePhase, epochs: tuple[int | None, ...],
                  span: Span | None, diagnostics: DiagnosticList) -> None:
    """E463 when a stage is no longer than the epoch-wise warmup its scheduler starts with."""
    scheduler = (phase.optimizer or spec.optimizer).scheduler or spec.trainer.scheduler
    if scheduler is None or not scheduler.warmup:
        return
    if (scheduler.interval or ("step" if scheduler.type == "one_cycle" else "epoch")) != "epoch":
        return
    caps = [stage or phase.stop.max_epochs or spec.trainer.max_epochs for stage in epochs]
    if scheduler.warmup >= min(caps):
        diagnostics.add("E463", f"a warmup of {scheduler.warmup} epochs fills a stage of "
                        f"{min(caps)} epochs: the {scheduler.type} rate would never apply", span,
                        "shorten the warmup, or use `interval: step` to warm up over steps")

