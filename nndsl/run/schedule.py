"""Run stage: the schedule, phase by phase, with progress recorded for resuming.

In: the run context (network, data, plan). Out: the phase table rows, one per run (a phase, or
one top-down attempt), each with its score, whether it was accepted and Σ|Δθ| per layer from
the run's start to its best epoch; `progress.json` after every run; `curves.png` at the end.

Every run is one of the plan's `RunPlan`s, executed as written: its label, the layers it
re-initialises (with its seed), trains and freezes, and its phase's acceptance rule all come from
the plan; what this module decides is only what the plan cannot know, which attempt's score beats
the baseline and so which planned run comes next.

Each finished run is written to `progress.json` with its score and the network state after it, so
`--resume` replays every decision from the record and continues the unfinished run from its
`last.ckpt` — with the same frozen sets, since those come from the plan, not from the interrupted
process. A run's randomness depends only on its label (its re-initialisation and its torch seed),
and its checkpoint — written at a batch boundary when the user presses Ctrl-C — carries the batch
and loader positions and every random state (`nndsl.backend.callbacks.random_state`), so a
resumed run computes what the uninterrupted one would have, even from the middle of an epoch.

Top-down (Algorithm 1 of the top-down training paper): starting from the current network A with
validation score s, an attempt at cut C copies A, keeps C's classifier frozen, re-initialises
C's extractor and retrains it; it is accepted when its score beats s. `greedy` (the paper's
experiments) tries cuts from the top until one helps, then only the next lower cut each time;
`full` tries every lower cut again after each acceptance. With `classifier_from`, the first
attempt's classifier comes from other runs' checkpoints (several: the extractor learns against
all of them, see `ClassifierSet`). `retrain_classifier` then freezes the extractor of the cut
accepted last and trains the classifier; like an attempt, it is kept only if validation improves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nndsl.backend.callbacks.activation_peak import activation_peak
from nndsl.backend.callbacks.parameter_change import ParameterChange
from nndsl.backend.callbacks.random_state import RandomState
from nndsl.backend.classifier_set import ClassifierSet, RepeatTargets
from nndsl.plan import CutPlan, PhasePlan, RunPlan
from nndsl.run.rundir import is_primary_process, read_json, save_state, write_json
from nndsl.run.safe_load import read_state_dict
from nndsl.run.selection import LayerStore, evaluate, phase_context
from nndsl.run.session import RunContext, RunOutcome, layer_seed, train_run, validation_score
from nndsl.state_names import layer_prefix


class Interrupted(Exception):
    """The user pressed Ctrl-C; the run directory holds what is needed to resume.

    Attributes:
        directory: the run directory (set by the run stage's `train`), or None.
    """

    directory: Path | None = None


@dataclass
class Progress:
    """The record of finished runs, keyed by label, persisted after each one."""

    path: Path
    runs: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, directory: Path) -> Progress:
        path = directory / "progress.json"
        return cls(path, read_json(path)["runs"] if path.exists() else {})

    def save(self) -> None:
        write_json(self.path, {"runs": self.runs})


def better(score: float | None, reference: float | None, mode: str) -> bool:
    if score is None:
        return False
    if reference is None:
        return True
    return score < reference if mode == "min" else score > reference


@dataclass(frozen=True)
class Trial:
    """One planned run to execute, and what its result is judged against.

    Attributes:
        phase: the run's phase (its stopping rule, optimiser and acceptance rule).
        run: the planned run (label, cut, trainable and re-initialised layers, seed).
        baseline: the score to beat when the phase accepts runs only if they improve.
        attempt: the top-down attempt's number (from 1), or None outside a search.
        classifiers: checkpoints whose layers above the run's cut replace the network's first.
    """

    phase: PhasePlan
    run: RunPlan
    baseline: float | None = None
    attempt: int | None = None
    classifiers: tuple[str, ...] = ()


Row = dict[str, Any]


def run_schedule(context: RunContext) -> list[Row]:
    """Run every phase; returns the phase table rows (one per run)."""
    _check_checkpoints_exist(context)
    progress = Progress.load(context.directory)
    rows: list[Row] = []
    store = LayerStore(context.directory)
    for index, phase in enumerate(context.plan.phases):
        if phase.init is not None:  # a finished run's recorded state replaces it on resume
            from nndsl.run.init_weights import load_initial_weights

            load_initial_weights(context.network, phase.init)
        runner = PHASE_RUNNERS.get(phase.kind)
        if runner is None:
            raise NotImplementedError(f"the run stage has no runner for `{phase.kind}` phases")
        # Slots and the class selection (`nndsl.run.selection`) frame whatever the phase runs.
        store.restore(context.network, phase.restore)
        rows.extend(runner(phase_context(context, phase), progress, phase, index))
        store.save(context.network, phase.save)
    if not context.fast_dev_run and is_primary_process():
        from nndsl.run.report import write_curves

        write_curves(context.directory, rows, context.spec.name)
    return rows


def _single_run(context: RunContext, progress: Progress, phase: PhasePlan, index: int) -> list[Row]:
    """A phase of one planned run (joint, train)."""
    (run,) = phase.runs
    return [_step(context, progress, Trial(phase, run))]


def _step(context: RunContext, progress: Progress, trial: Trial) -> Row:
    """One planned run, as the plan has it; skipped (its state reloaded) when the progress record
    already has it.

    The phase's `accept` makes the run a trial: kept only when it beats `trial.baseline`, else
    the network returns to its state before the run. `trial.classifiers` are checkpoints whose
    layers above the run's cut replace the network's before training.
    """
    phase, run = trial.phase, trial.run
    record = progress.runs.get(run.label)
    if record is not None:
        if record.get("accepted", True):
            _load_state(context, Path(record["state"]))
        return record["row"]
    start_state = {key: value.clone() for key, value in context.network.state_dict().items()}
    sets = _prepare(context, trial)
    change = ParameterChange(phase.stop.monitor, phase.stop.mode)
    callbacks: list[Any] = [*context.extra_callbacks, change, RandomState()]
    peak = activation_peak(context)  # a memory budget's measured peak, beside the plan's
    callbacks += [peak] if peak is not None else []
    network: nn.Module = context.network
    if len(sets) > 1:
        network = ClassifierSet(context.network, sets[1:])
        callbacks.append(RepeatTargets(len(sets)))
    run_context = dataclasses.replace(context, network=network, extra_callbacks=callbacks)
    if phase.kind == "adapt":
        from nndsl.run.adaptation import adaptation_context

        run_context = adaptation_context(run_context, phase)
    outcome: RunOutcome = train_run(run_context, run, phase)
    if outcome.interrupted:
        raise Interrupted(run.label)
    accept, stop = phase.accept, phase.stop
    monitor, mode = (accept.monitor, accept.mode) if accept else (stop.monitor, stop.mode)
    score, extra = _score(context, trial, sets, outcome, monitor, mode)
    accepted = True if accept is None else better(score, trial.baseline, mode)
    state_path = context.directory / "checkpoints" / run.label / "state.pt"
    save_state(state_path, context.network.state_dict())  # rank 0 writes; every rank keeps its copy
    if not accepted:
        context.network.load_state_dict(start_state)
    row = {"phase": phase.name, "run": run.label, "cut": run.cut, "attempt": trial.attempt,
           "epochs": outcome.epochs, "monitor": monitor, "best": score, "baseline": trial.baseline,
           "accepted": accepted, **change.summary(),
           **(peak.summary() if peak is not None else {}), **extra}
    progress.runs[run.label] = {"row": row, "accepted": accepted, "state": str(state_path)}
    progress.save()
    if outcome.interrupt_pending:
        raise Interrupted(run.label)  # Ctrl-C after the run's last batch: recorded, so stop here
    return row


def _prepare(context: RunContext, trial: Trial) -> list[dict[str, torch.Tensor]]:
    """Sets the network up for the run: the first classifier of `trial.classifiers` loaded, the
    planned layers re-initialised, the run announced and torch seeded. Returns the classifier
    states (empty without `classifiers`)."""
    run = trial.run
    sets = (_classifier_states(context, context.plan.cut(run.cut), trial.classifiers)
            if trial.classifiers else [])
    if sets:
        context.network.load_state_dict(sets[0], strict=False)
    if run.reinitialised:
        context.network.reset_layers(run.reinitialised, run.seed)
    if context.printer:
        context.printer(trial.phase, run.label, run.cut, trial.attempt)
    # Dropout and anything else drawing from torch's generator depend on the run alone, so a
    # resumed schedule (which skips finished runs) draws what an uninterrupted one does.
    torch.manual_seed(layer_seed(context.spec.seed, f"{run.label}/train"))
    return sets


def _score(context: RunContext, trial: Trial, sets: list[dict[str, torch.Tensor]],
           outcome: RunOutcome, monitor: str, mode: str) -> tuple[float | None, Row]:
    """The run's score on `monitor`, and what the row adds about classifier sets."""
    phase = trial.phase
    extra: Row = {"classifier_from": list(trial.classifiers)} if trial.classifiers else {}
    if len(sets) > 1:
        # The run ends with one network: the extractor and the classifier that fits it best.
        scores = []
        for state in sets:
            context.network.load_state_dict(state, strict=False)
            scores.append(validation_score(context, monitor))
        ranked = [k for k in range(len(sets)) if scores[k] is not None]
        chosen = (min if mode == "min" else max)(ranked, key=lambda k: scores[k]) if ranked else 0
        context.network.load_state_dict(sets[chosen], strict=False)
        extra.update(classifier_scores=scores, classifier=chosen, set_score=outcome.score)
        return scores[chosen], extra
    if monitor == phase.stop.monitor and phase.keep_best:
        return outcome.score, extra
    return validation_score(context, monitor), extra


def _check_checkpoints_exist(context: RunContext) -> None:
    """`classifier_from` files may be missing at validation (a warning); training needs them."""
    from nndsl.diagnostics import Diagnostic, SpecError

    missing = [path for phase in context.plan.phases if phase.search is not None
               for path in phase.search.classifier_from if not Path(path).is_file()]
    if missing:
        raise SpecError([Diagnostic("E414", f"checkpoint `{path}` does not exist", None,
                                    "train the run it comes from first (its "
                                    "RUN_DIR/final_weights.pt)")
                         for path in missing])


def _baseline(context: RunContext, progress: Progress, phase: PhasePlan,
              monitor: str) -> float | None:
    """The network's validation score before a phase of trials, recorded once."""
    key = f"{phase.name}/baseline"
    if key not in progress.runs:
        progress.runs[key] = {"score": validation_score(context, monitor), "row": None,
                              "accepted": False}
        progress.save()
    return progress.runs[key]["score"]


def _top_down(context: RunContext, progress: Progress, phase: PhasePlan, index: int) -> list[Row]:
    search, accept = phase.search, phase.accept
    assert search is not None and accept is not None
    baseline = _baseline(context, progress, phase, accept.monitor)
    rows: list[dict[str, Any]] = []
    attempt = 0
    position = 0  # index in the planned runs (one per cut, top first) of the next attempt
    searching_from_top = True
    while position < len(phase.runs):
        attempt += 1
        trial = Trial(phase, phase.runs[position], baseline, attempt,
                      search.classifier_from if attempt == 1 else ())
        row = _step(context, progress, trial)
        rows.append(row)
        if row["accepted"]:
            baseline = row["best"]
            searching_from_top = search.search == "full"
            position += 1
        elif searching_from_top:
            position += 1  # inner loop: try the next lower cut
        else:
            break  # greedy: the first non-improvement after an acceptance ends the search
    return rows


def _retrain_classifier(context: RunContext, progress: Progress, phase: PhasePlan,
                        index: int) -> list[Row]:
    """Freeze the extractor of the cut top-down accepted last (or the named cut); train the top:
    the planned run of that cut."""
    assert phase.accept is not None
    cut = phase.cut or _last_accepted_cut(context, progress, index)
    baseline = _baseline(context, progress, phase, phase.accept.monitor)
    run = next(run for run in phase.runs if run.cut == cut)
    return [_step(context, progress, Trial(phase, run, baseline))]


def _last_accepted_cut(context: RunContext, progress: Progress, index: int) -> str:
    searches = [phase for phase in context.plan.phases[:index] if phase.search is not None]
    names = {phase.name for phase in searches}
    accepted = [record["row"]["cut"] for record in progress.runs.values()
                if record.get("row") and record["row"]["phase"] in names
                and record["row"]["attempt"]
                and record["accepted"]]
    assert searches and searches[-1].search is not None  # the plan stage demands a cut otherwise
    return accepted[-1] if accepted else searches[-1].search.cuts[0]


#: How the run stage executes each kind of phase: the planned runs, in order, with the
#: decisions only a run can make (which top-down attempt comes next). Returns the phase's rows.
PHASE_RUNNERS: dict[str, Callable[[RunContext, Progress, PhasePlan, int], list[Row]]] = {
    "joint": _single_run,
    "train": _single_run,
    "top_down": _top_down,
    "retrain_classifier": _retrain_classifier,
    "adapt": _single_run,  # `_step` hands its run an adaptation context (`nndsl.run.adaptation`)
    "evaluate": lambda context, progress, phase, index: [evaluate(context, progress, phase)],
}


def _load_state(context: RunContext, path: Path) -> None:
    context.network.load_state_dict(read_state_dict(path))


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a run's final_weights.pt or state.pt (or a Lightning checkpoint's)."""
    return read_state_dict(path)


def _classifier_states(context: RunContext, cut: CutPlan,
                       paths: tuple[str, ...]) -> list[dict[str, torch.Tensor]]:
    """The entries above `cut` of each checkpoint (the plan stage checked that they fit)."""
    own = context.network.state_dict()
    prefixes = tuple(layer_prefix(layer) for layer in cut.classifier)
    keys = [key for key in own if key.startswith(prefixes)]
    states = []
    for path in paths:
        loaded = read_weights(path)
        unfit = [key for key in keys if key not in loaded or loaded[key].shape != own[key].shape]
        if unfit:
            raise RuntimeError(f"checkpoint `{path}` changed since the spec was checked: "
                               f"`{unfit[0]}` does not fit this network")
        states.append({key: loaded[key].to(own[key].dtype) for key in keys})
    return states
