"""Run stage: the schedule, phase by phase, with progress recorded for resuming.

Each finished run (a phase, or one top-down attempt) is written to `progress.json` with its
score and the network state after it, so `--resume` replays every decision from the record and
continues the unfinished run from its `last.ckpt` — with the same frozen sets, since those come
from the plan, not from the interrupted process.

Top-down (Algorithm 1 of the top-down training paper): starting from the current network A with
validation score s, an attempt at cut C copies A, keeps C's classifier frozen, re-initialises
C's extractor and retrains it; it is accepted when its score beats s. `greedy` (the paper's
experiments) tries cuts from the top until one helps, then only the next lower cut each time;
`full` tries every lower cut again after each acceptance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nndsl.plan import PhasePlan
from nndsl.run.rundir import read_json, write_json
from nndsl.run.session import RunContext, RunOutcome, layer_seed, train_run, validation_score


class Interrupted(Exception):
    """The user pressed Ctrl-C; the run directory holds what is needed to resume."""


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
    progress = Progress.load(context.directory)
    rows: list[dict[str, Any]] = []
    for phase in context.plan.phases:
        if phase.search is None:
            rows.append(_step(context, progress, phase.name, phase, phase.trainable, phase.reinitialised,
                              cut=phase.cut))
        else:
            rows.extend(_top_down(context, progress, phase))
    return rows


def _step(context: RunContext, progress: Progress, label: str, phase: PhasePlan, trainable: tuple[str, ...],
          reinitialise: tuple[str, ...], cut: str | None, baseline: float | None = None,
          attempt: int | None = None) -> dict[str, Any]:
    """One run; skipped (its state reloaded) when the progress record already has it."""
    record = progress.runs.get(label)
    if record is not None:
        if record.get("accepted", True):
            _load_state(context, Path(record["state"]))
        return record["row"]
    start_state = {key: value.clone() for key, value in context.network.state_dict().items()}
    if reinitialise:
        context.network.reset_layers(reinitialise, layer_seed(context.spec.seed, label))
    if context.printer:
        context.printer(phase, label, cut, attempt)
    outcome: RunOutcome = train_run(context, label, trainable, phase.parameter_groups, phase.optimizer,
                                    phase.stop, phase.keep_best)
    if outcome.interrupted:
        raise Interrupted(label)
    monitor = phase.search.monitor if phase.search else phase.stop.monitor
    mode = phase.search.mode if phase.search else phase.stop.mode
    score = outcome.score if monitor == phase.stop.monitor else validation_score(context, monitor)
    accepted = True if phase.search is None else better(score, baseline, mode)
    state_path = context.directory / "checkpoints" / label / "state.pt"
    state_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(context.network.state_dict(), state_path)
    if not accepted:
        context.network.load_state_dict(start_state)
    row = {"phase": phase.name, "run": label, "cut": cut, "attempt": attempt, "epochs": outcome.epochs,
           "monitor": monitor, "best": score, "baseline": baseline, "accepted": accepted}
    progress.runs[label] = {"row": row, "accepted": accepted, "state": str(state_path)}
    progress.save()
    return row


def _top_down(context: RunContext, progress: Progress, phase: PhasePlan) -> list[dict[str, Any]]:
    search = phase.search
    assert search is not None
    cuts = {cut.name: cut for cut in context.plan.cuts}
    baseline_key = f"{phase.name}/baseline"
    if baseline_key in progress.runs:
        baseline = progress.runs[baseline_key]["score"]
    else:
        baseline = validation_score(context, search.monitor)
        progress.runs[baseline_key] = {"score": baseline, "row": None, "accepted": False}
        progress.save()
    rows: list[dict[str, Any]] = []
    candidates = list(search.cuts)
    attempt = 0
    position = 0  # index in `candidates` of the next cut to try
    searching_from_top = True
    while position < len(candidates):
        cut = cuts[candidates[position]]
        attempt += 1
        row = _step(context, progress, f"{phase.name}/{attempt}-{cut.name}", phase, cut.extractor, cut.extractor,
                    cut=cut.name, baseline=baseline, attempt=attempt)
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


def _load_state(context: RunContext, path: Path) -> None:
    context.network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
