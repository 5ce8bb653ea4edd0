"""Check stage: learning-rate schedulers, wherever they are written.

In: a spec. Out: diagnostics for scheduler options the chosen type would not read (E461),
combinations torch cannot compose or that contradict themselves (E462), a warmup that fills the
whole phase (E463) and a spec-level scheduler written twice (E464). Schedulers live in
`trainer.scheduler` (every phase's default), `optimizer.scheduler` and a phase's
`optimizer.scheduler` (that phase's own).
"""

from __future__ import annotations

from collections.abc import Iterator

from nndsl.diagnostics import StageContext
from nndsl.spec import Spec
from nndsl.spec.training import SchedulerSpec

#: The options each scheduler type reads (besides `type`); any other written is refused.
OPTIONS: dict[str, frozenset[str]] = {
    "step": frozenset({"step_size", "gamma", "interval", "warmup", "warmup_start"}),
    "cosine": frozenset({"max_epochs", "interval", "warmup", "warmup_start"}),
    "constant": frozenset({"interval", "warmup", "warmup_start"}),
    "plateau": frozenset({"gamma", "patience", "monitor"}),
    "one_cycle": frozenset({"interval", "pct_start", "div_factor", "final_div_factor"}),
}

#: Options a type refuses for a reason worth more than "no effect" (E462 instead of E461).
CONFLICTS: dict[tuple[str, str], tuple[str, str]] = {
    ("plateau", "warmup"): (
        "torch cannot chain a plateau scheduler after a warmup (SequentialLR)",
        "use `step` or `cosine` with a warmup, or remove `warmup`",
    ),
    ("one_cycle", "warmup"): (
        "one_cycle warms up by itself over `pct_start` of the steps",
        "remove `warmup`, or set `pct_start`",
    ),
    ("plateau", "interval"): (
        "a plateau scheduler watches a validation metric, once per epoch",
        "remove `interval`",
    ),
}

Path = tuple[str | int, ...]


def scheduler_places(spec: Spec) -> Iterator[tuple[Path, SchedulerSpec, tuple[int, ...]]]:
    """Each written scheduler with its path and the epoch caps of the phases that run it (a
    phase runs its optimiser's scheduler, else `trainer.scheduler`, as the backend does)."""
    places: dict[Path, tuple[SchedulerSpec, list[int]]] = {}
    for path, scheduler in (
        (("optimizer", "scheduler"), spec.optimizer.scheduler),
        (("trainer", "scheduler"), spec.trainer.scheduler),
        *(
            (("schedule", index, "optimizer", "scheduler"), phase.optimizer.scheduler)
            for index, phase in enumerate(spec.schedule)
            if phase.optimizer is not None
        ),
    ):
        if scheduler is not None:
            places[path] = (scheduler, [])
    for index, phase in enumerate(spec.schedule or (None,)):
        optimizer = phase.optimizer if phase is not None and phase.optimizer else spec.optimizer
        own = (
            ("optimizer", "scheduler")
            if optimizer is spec.optimizer
            else ("schedule", index, "optimizer", "scheduler")
        )
        used = own if optimizer.scheduler is not None else ("trainer", "scheduler")
        if used in places:
            places[used][1].append(
                phase.stop.max_epochs
                if phase is not None and phase.stop.max_epochs
                else spec.trainer.max_epochs
            )
    for path, (scheduler, caps) in places.items():
        yield path, scheduler, tuple(caps)


def check_schedulers(spec: Spec, context: StageContext) -> None:
    """Every scheduler's options are read, its combination composes, its warmup fits (E461-E464)."""
    locate, diagnostics = context.locate, context.diagnostics
    if spec.optimizer.scheduler is not None and spec.trainer.scheduler is not None:
        diagnostics.add(
            "E464",
            "a scheduler is written both in `optimizer` and in `trainer`",
            locate(("optimizer", "scheduler")),
            "keep one of them",
        )
    for path, scheduler, caps in scheduler_places(spec):
        _check_one(path, scheduler, caps, context)


def _check_one(
    path: Path,
    scheduler: SchedulerSpec,
    caps: tuple[int, ...],
    context: StageContext,
) -> None:
    locate, diagnostics = context.locate, context.diagnostics
    written = scheduler.model_fields_set - {"type"}
    for option in sorted(written - OPTIONS[scheduler.type]):
        if (scheduler.type, option) in CONFLICTS:
            reason, hint = CONFLICTS[scheduler.type, option]
            diagnostics.add(
                "E462",
                f"`{option}` cannot be combined with a `{scheduler.type}` scheduler: {reason}",
                locate((*path, option)),
                hint,
            )
            continue
        diagnostics.add(
            "E461",
            f"`{option}` has no effect on a `{scheduler.type}` scheduler",
            locate((*path, option)),
            f"a {scheduler.type} scheduler reads: {', '.join(sorted(OPTIONS[scheduler.type]))}",
        )
    if "warmup_start" in written and not scheduler.warmup:
        diagnostics.add(
            "E461",
            "`warmup_start` has no effect without `warmup`",
            locate((*path, "warmup_start")),
            "set `warmup` (intervals), or remove it",
        )
    interval = scheduler.interval or ("step" if scheduler.type == "one_cycle" else "epoch")
    if scheduler.type == "cosine" and scheduler.max_epochs is not None and interval == "step":
        diagnostics.add(
            "E462",
            "`max_epochs` is an epoch count, but this scheduler steps per optimiser step",
            locate((*path, "max_epochs")),
            "remove `max_epochs` (the cosine then spans the phase's steps)",
        )
    if interval != "epoch" or not scheduler.warmup:
        return
    period = scheduler.max_epochs if scheduler.type == "cosine" and scheduler.max_epochs else None
    shortest = min((period or cap for cap in caps), default=None)
    if shortest is not None and scheduler.warmup >= shortest:
        diagnostics.add(
            "E463",
            f"a warmup of {scheduler.warmup} epochs fills the whole schedule "
            f"({shortest} epochs): the {scheduler.type} rate would never apply",
            locate((*path, "warmup")),
            "shorten the warmup, or use `interval: step` to warm up over steps",
        )
