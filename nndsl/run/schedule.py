"""Run stage: the schedule, phase by phase, with progress recorded for resuming.

In: the run context (network, data, plan). Out: the phase table rows, one per run (a phase, or
one top-down attempt), each with its score, whether it was accepted and Σ|Δθ| per layer from
epoch 1 to its best epoch; `progress.json` after every run; `curves.png` at the end.

Every run is one of the plan's `RunPlan`s, executed as written: its label, the layers it
re-initialises (with its seed), trains and freezes, and its phase's acceptance rule all come from
the plan; what this module decides is only what the plan cannot know, which attempt's score beats
the baseline and so which planned run comes next.

Each finished run is written to `progress.json` with its score and the network state after it, so
`--resume` replays every decision from the record and continues the unfinished run from its
`last.ckpt` — with the same frozen sets, since those come from the plan, not from the interrupted
process. A run's randomness depends only on its label (its re-initialisation and its torch seed),
and its checkpoint — written at a batch boundary when the user presses Ctrl-C — carries the batch
and loader positions and every random state (`nndsl.run.resume_state`), so a resumed run computes
what the uninterrupted one would have, even from the middle of an epoch.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback
from torch import nn
from torch.func import functional_call

from nndsl.backend.callbacks.parameter_change import ParameterChange
from nndsl.backend.graph_module import module_key
from nndsl.plan import CutPlan, PhasePlan, RunPlan
from nndsl.run.resume_state import RandomState
from nndsl.run.rundir import is_primary_process, read_json, save_state, write_json
from nndsl.run.safe_load import read_state_dict
from nndsl.run.selection import LayerStore, evaluate, phase_context
from nndsl.run.session import RunContext, RunOutcome, layer_seed, train_run, validation_score


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


def run_schedule(context: RunContext) -> list[dict[str, Any]]:
    """Run every phase; returns the phase table rows (one per run)."""
    _check_checkpoints_exist(context)
    progress = Progress.load(context.directory)
    rows: list[dict[str, Any]] = []
    store = LayerStore(context.directory)
    network_context = context
    for index, phase in enumerate(network_context.plan.phases):
        store.restore(network_context.network, phase.restore)
        context = phase_context(network_context, phase)
        if phase.kind == "evaluate":
            rows.append(evaluate(context, progress, phase))
        elif phase.search is not None:
            rows.extend(_top_down(context, progress, phase))
        elif phase.accept is not None:
            rows.append(_retrain_classifier(context, progress, phase, index))
        else:
            (run,) = phase.runs
            rows.append(_step(context, progress, phase, run))
        store.save(network_context.network, phase.save)
    context = network_context
    if not context.fast_dev_run and is_primary_process():
        from nndsl.run.report import write_curves

        write_curves(context.directory, rows, context.spec.name)
    return rows


def _step(context: RunContext, progress: Progress, phase: PhasePlan, run: RunPlan, baseline: float | None = None,
          attempt: int | None = None, classifiers: tuple[str, ...] = ()) -> dict[str, Any]:
    """One planned run, as the plan has it; skipped (its state reloaded) when the progress record
    already has it.

    The phase's `accept` makes the run a trial: kept only when it beats `baseline`, else the
    network returns to its state before the run. `classifiers` are checkpoints whose layers above
    the run's cut replace the network's before training.
    """
    label, cut, accept = run.label, run.cut, phase.accept
    record = progress.runs.get(label)
    if record is not None:
        if record.get("accepted", True):
            _load_state(context, Path(record["state"]))
        return record["row"]
    start_state = {key: value.clone() for key, value in context.network.state_dict().items()}
    sets = _classifier_states(context, context.plan.cut(cut), classifiers) if classifiers else []
    if sets:
        context.network.load_state_dict(sets[0], strict=False)
    if run.reinitialised:
        context.network.reset_layers(run.reinitialised, run.seed)
    if context.printer:
        context.printer(phase, label, cut, attempt)
    # Dropout and anything else drawing from torch's generator depend on the run alone, so a
    # resumed schedule (which skips finished runs) draws what an uninterrupted one does.
    torch.manual_seed(layer_seed(context.spec.seed, f"{label}/train"))
    change = ParameterChange(phase.stop.monitor, phase.stop.mode)
    callbacks: list[Any] = [*context.extra_callbacks, change, RandomState()]
    network: nn.Module = context.network
    if len(sets) > 1:
        network = ClassifierSet(context.network, sets[1:])
        callbacks.append(RepeatTargets(len(sets)))
    run_context = dataclasses.replace(context, network=network, extra_callbacks=callbacks)
    outcome: RunOutcome = train_run(run_context, label, run.trainable, phase.parameter_groups, phase.optimizer,
                                    phase.stop, phase.keep_best)
    if outcome.interrupted:
        raise Interrupted(label)
    monitor, mode = (accept.monitor, accept.mode) if accept else (phase.stop.monitor, phase.stop.mode)
    extra: dict[str, Any] = {"classifier_from": list(classifiers)} if classifiers else {}
    if len(sets) > 1:
        # The run ends with one network: the extractor and the classifier that fits it best.
        scores = []
        for state in sets:
            context.network.load_state_dict(state, strict=False)
            scores.append(validation_score(context, monitor))
        ranked = [k for k in range(len(sets)) if scores[k] is not None]
        chosen = (min if mode == "min" else max)(ranked, key=lambda k: scores[k]) if ranked else 0
        context.network.load_state_dict(sets[chosen], strict=False)
        score = scores[chosen]
        extra.update(classifier_scores=scores, classifier=chosen, set_score=outcome.score)
    elif monitor == phase.stop.monitor and phase.keep_best:
        score = outcome.score
    else:
        score = validation_score(context, monitor)
    accepted = True if accept is None else better(score, baseline, mode)
    state_path = context.directory / "checkpoints" / label / "state.pt"
    save_state(state_path, context.network.state_dict())  # rank 0 writes; every rank keeps its copy
    if not accepted:
        context.network.load_state_dict(start_state)
    row = {"phase": phase.name, "run": label, "cut": cut, "attempt": attempt, "epochs": outcome.epochs,
           "monitor": monitor, "best": score, "baseline": baseline, "accepted": accepted,
           **change.summary(), **extra}
    progress.runs[label] = {"row": row, "accepted": accepted, "state": str(state_path)}
    progress.save()
    if outcome.interrupt_pending:
        raise Interrupted(label)  # Ctrl-C after the run's last batch: it is recorded, so stop here
    return row


def _check_checkpoints_exist(context: RunContext) -> None:
    """`classifier_from` files may be missing at validation (a warning); training needs them."""
    from nndsl.diagnostics import Diagnostic, SpecError

    missing = [path for phase in context.plan.phases if phase.search is not None
               for path in phase.search.classifier_from if not Path(path).is_file()]
    if missing:
        raise SpecError([Diagnostic("E414", f"checkpoint `{path}` does not exist", None,
                                    "train the run it comes from first (its RUN_DIR/final_weights.pt)")
                         for path in missing])


def _baseline(context: RunContext, progress: Progress, phase: PhasePlan, monitor: str) -> float | None:
    """The network's validation score before a phase of trials, recorded once."""
    key = f"{phase.name}/baseline"
    if key not in progress.runs:
        progress.runs[key] = {"score": validation_score(context, monitor), "row": None, "accepted": False}
        progress.save()
    return progress.runs[key]["score"]


def _top_down(context: RunContext, progress: Progress, phase: PhasePlan) -> list[dict[str, Any]]:
    search, accept = phase.search, phase.accept
    assert search is not None and accept is not None
    baseline = _baseline(context, progress, phase, accept.monitor)
    rows: list[dict[str, Any]] = []
    attempt = 0
    position = 0  # index in the planned runs (one per cut, top first) of the next attempt
    searching_from_top = True
    while position < len(phase.runs):
        attempt += 1
        row = _step(context, progress, phase, phase.runs[position], baseline=baseline, attempt=attempt,
                    classifiers=search.classifier_from if attempt == 1 else ())
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


def _retrain_classifier(context: RunContext, progress: Progress, phase: PhasePlan, index: int) -> dict[str, Any]:
    """Freeze the extractor of the cut top-down accepted last (or the named cut); train the top:
    the planned run of that cut."""
    assert phase.accept is not None
    cut = phase.cut or _last_accepted_cut(context, progress, index)
    baseline = _baseline(context, progress, phase, phase.accept.monitor)
    return _step(context, progress, phase, next(run for run in phase.runs if run.cut == cut), baseline=baseline)


def _last_accepted_cut(context: RunContext, progress: Progress, index: int) -> str:
    searches = [phase for phase in context.plan.phases[:index] if phase.search is not None]
    names = {phase.name for phase in searches}
    accepted = [record["row"]["cut"] for record in progress.runs.values()
                if record.get("row") and record["row"]["phase"] in names and record["row"]["attempt"]
                and record["accepted"]]
    assert searches and searches[-1].search is not None  # the plan stage demands a cut otherwise
    return accepted[-1] if accepted else searches[-1].search.cuts[0]


def _load_state(context: RunContext, path: Path) -> None:
    context.network.load_state_dict(read_state_dict(path))


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a run's final_weights.pt or state.pt (or a Lightning checkpoint's)."""
    return read_state_dict(path)


def _classifier_states(context: RunContext, cut: CutPlan, paths: tuple[str, ...]) -> list[dict[str, torch.Tensor]]:
    """The entries above `cut` of each checkpoint (the plan stage checked that they fit)."""
    own = context.network.state_dict()
    prefixes = tuple(f"layers.{module_key(layer)}." for layer in cut.classifier)
    keys = [key for key in own if key.startswith(prefixes)]
    states = []
    for path in paths:
        loaded = read_weights(path)
        unfit = [key for key in keys if key not in loaded or loaded[key].shape != own[key].shape]
        if unfit:
            raise RuntimeError(f"checkpoint `{path}` changed since the spec was checked: `{unfit[0]}` "
                               "does not fit this network")
        states.append({key: loaded[key].to(own[key].dtype) for key in keys})
    return states


class ClassifierSet(nn.Module):
    """The network with several frozen classifiers above one extractor (the paper's suggestion
    for a stable good classifier: classifiers of differently seeded runs, multi-task style).

    The network's own classifier is the first; `alternatives` hold the others' values. The output
    stacks every classifier's output along the batch; with `RepeatTargets` repeating the targets
    to match, the loss is the mean over the classifiers and the metrics pool them. The extractor
    runs once per classifier (a functional call), which costs time, not correctness.
    """

    def __init__(self, network: nn.Module, alternatives: list[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.base = network
        self.order = network.order
        self.names: list[dict[str, str]] = []
        for index, state in enumerate(alternatives):
            names = {}
            for position, (key, value) in enumerate(state.items()):
                names[key] = f"alternative{index}_{position}"
                self.register_buffer(names[key], value.clone(), persistent=False)
            self.names.append(names)

    def layer(self, name: str) -> nn.Module:
        return self.base.layer(name)

    def layer_parameters(self, name: str) -> list[tuple[str, nn.Parameter]]:
        return self.base.layer_parameters(name)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None):
        results = [self.base(inputs, lengths)]
        for names in self.names:
            values = {key: getattr(self, buffer) for key, buffer in names.items()}
            results.append(functional_call(self.base, values, (inputs, lengths), strict=False))
        outputs = torch.cat([output for output, _ in results])
        output_lengths = None if results[0][1] is None else torch.cat([length for _, length in results])
        return outputs, output_lengths


class RepeatTargets(Callback):
    """Repeats a batch's targets once per classifier of a `ClassifierSet`, in place, before the
    step that computes the loss and the metrics on the stacked outputs."""

    def __init__(self, copies: int) -> None:
        self.copies = copies

    def _repeat(self, batch: dict[str, torch.Tensor]) -> None:
        for key in ("targets", "target_lengths"):
            if key in batch:
                batch[key] = torch.cat([batch[key]] * self.copies)

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_index: int) -> None:
        self._repeat(batch)

    def on_validation_batch_start(self, trainer: Any, module: Any, batch: Any, batch_index: int,
                                  dataloader_index: int = 0) -> None:
        self._repeat(batch)
