"""Run stage: phases on a subset of the classes, layer slots saved and restored, evaluate phases.

In: the run context and a planned phase (`PhasePlan.classes`, `relabel`, `restore`, `save`).
Out: a context whose data module yields only the selected classes (renumbered when relabelled),
layers copied to and from named slots, and the row of an `evaluate` phase.

Slots are kept in memory and written to `slots/<slot>.pt` in the run directory, so a resumed run
(whose earlier phases are skipped) restores what the interrupted one saved. A restore copies the
tensors with `load_state_dict`, so the layer afterwards holds exactly the saved values.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nndsl.data.registry import DataArrays
from nndsl.data.splits import DataSplits
from nndsl.diagnostics import Diagnostic, SpecError
from nndsl.plan import LayerSlot, PhasePlan
from nndsl.records import replace
from nndsl.run.rundir import save_state
from nndsl.run.safe_load import read_state_dict
from nndsl.run.session import RunContext, build_module, evaluation_trainer


def select_arrays(arrays: DataArrays, classes: tuple[int, ...], relabel: bool) -> DataArrays:
    """The examples of `classes`, in their order in `arrays`; targets renumbered to positions in
    `classes` when `relabel`."""
    targets = np.asarray(arrays.targets)
    kept = arrays.subset(np.flatnonzero(np.isin(targets, classes)))
    if not relabel:
        return kept
    lookup = np.full(int(max(classes)) + 1, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    names = arrays.class_names
    return replace(
        kept,
        targets=lookup[np.asarray(kept.targets)],
        class_names=None if names is None else tuple(names[item] for item in classes),
    )


def select_classes(datamodule: Any, classes: tuple[int, ...], relabel: bool, phase: str) -> Any:
    """A copy of `datamodule` whose splits hold only `classes`.

    Raises:
        SpecError: E471 when a split that exists would hold no example of the selection.
    """
    splits = datamodule.splits
    chosen = {
        name: None if part is None else select_arrays(part, classes, relabel)
        for name, part in (("train", splits.train), ("valid", splits.valid), ("test", splits.test))
    }
    empty = [name for name, part in chosen.items() if part is not None and len(part) == 0]
    if empty:
        raise SpecError(
            [
                Diagnostic(
                    "E471",
                    f"phase `{phase}`: the {empty[0]} split holds no "
                    f"example of classes {list(classes)}",
                    None,
                    "select classes the data has examples of",
                )
            ]
        )
    view = copy.copy(datamodule)
    # The copy must not share built datasets, nor the original's hidden loader hooks.
    for hook in ("val_dataloader", "test_dataloader"):
        view.__dict__.pop(hook, None)
    view.splits = DataSplits(**chosen)
    view._datasets = {}
    if relabel and datamodule.class_names is not None:
        view.class_names = tuple(datamodule.class_names[item] for item in classes)
    view._hide_hooks_of_missing_splits()
    return view


def phase_context(context: RunContext, phase: PhasePlan) -> RunContext:
    """The context the phase runs in: its class selection's data and class count."""
    if phase.classes is None:
        return context
    datamodule = select_classes(context.datamodule, phase.classes, phase.relabel, phase.name)
    if not phase.relabel:
        return dataclasses.replace(context, datamodule=datamodule)
    # Metrics count the classes the relabelled targets have: the data's signature, narrowed.
    signature = replace(context.compiled.signature, num_classes=len(phase.classes))
    compiled = replace(context.compiled, signature=signature)
    return dataclasses.replace(context, compiled=compiled, datamodule=datamodule)


class LayerStore:
    """Named copies of layers' weights for the length of a run (and across a resume)."""

    def __init__(self, directory: Path) -> None:
        self.folder = directory / "slots"
        self.slots: dict[str, dict[str, torch.Tensor]] = {}

    def save(self, network: Any, slots: tuple[LayerSlot, ...]) -> None:
        for item in slots:
            state = {
                key: value.detach().clone()
                for key, value in network.layer(item.layer).state_dict().items()
            }
            self.slots[item.slot] = state
            save_state(self.folder / f"{item.slot}.pt", state)  # the primary process writes

    def restore(self, network: Any, slots: tuple[LayerSlot, ...]) -> None:
        for item in slots:
            state = self.slots.get(item.slot)
            if state is None:  # saved before a resume: the phase that saved it was skipped
                state = read_state_dict(self.folder / f"{item.slot}.pt")
            network.layer(item.layer).load_state_dict(state)


def evaluate(context: RunContext, progress: Any, phase: PhasePlan) -> dict[str, Any]:
    """Score the network on its validation and test splits; a row of the phase table with the
    metrics under `valid` and `test` (`best` is the test loss, or the validation loss)."""
    (run,) = phase.runs
    record = progress.runs.get(run.label)
    state_path = context.directory / "checkpoints" / run.label / "state.pt"
    if record is not None:  # resumed: the restores of this phase are in its recorded state
        context.network.load_state_dict(read_state_dict(Path(record["state"])))
        return record["row"]
    module = build_module(context, (), (), context.spec.optimizer, 1)
    splits = context.datamodule.splits
    scores: dict[str, dict[str, float]] = {}
    for split, present, method in (
        ("valid", splits.valid, "validate"),
        ("test", splits.test, "test"),
    ):
        if present is None:
            continue
        results = getattr(evaluation_trainer(context), method)(
            module, datamodule=context.datamodule, verbose=False
        )
        scores[split] = {
            key: float(value) for key, value in (results[0] if results else {}).items()
        }
    monitor = "test/loss" if "test" in scores else "valid/loss"
    best = scores.get(monitor.split("/")[0], {}).get(monitor)
    row = {
        "phase": phase.name,
        "run": run.label,
        "cut": None,
        "attempt": None,
        "epochs": 0,
        "monitor": monitor,
        "best": best,
        "baseline": None,
        "accepted": True,
        "classes": list(phase.classes) if phase.classes is not None else None,
        **scores,
    }
    save_state(state_path, context.network.state_dict())
    progress.runs[run.label] = {"row": row, "accepted": True, "state": str(state_path)}
    progress.save()
    return row
