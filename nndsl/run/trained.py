"""Run stage: a finished run directory opened for use (prediction, export).

In: a run directory written by `nndsl train`. Out: a `TrainedRun` with the compiled spec (from
the run's own resolved `spec.yaml`, relative paths read from the original spec's folder), the
network rebuilt from the plan with `final_weights.pt` loaded through the safe reader, in eval
mode, the class names and CSV feature columns recorded at training (`data.json`), or None, and
the feature statistics of a run that standardised its inputs (`feature_statistics.json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nndsl.api import Valid, compile_spec
from nndsl.backend.standardize import Standardize
from nndsl.data.standardize import STATISTICS_FILE, FeatureStatistics, read_statistics
from nndsl.run.rundir import RunDirectoryError, read_json
from nndsl.run.safe_load import read_state_dict


@dataclass(frozen=True)
class TrainedRun:
    directory: Path
    compiled: Valid
    network: torch.nn.Module
    class_names: tuple[str, ...] | None
    feature_names: tuple[str, ...] | None = None
    feature_statistics: FeatureStatistics | None = None

    @property
    def ensemble(self) -> bool:
        return self.compiled.plan.ensemble is not None

    @property
    def target_kind(self) -> str:
        return self.compiled.signature.target_kind


def open_trained_run(run_dir: str | Path) -> TrainedRun:
    """The run's network with its final weights; `RunDirectoryError` for a directory that is not
    a finished run, `SpecError` when its spec no longer compiles (its data file gone)."""
    directory = Path(run_dir)
    if not (directory / "run.json").is_file() or not (directory / "spec.yaml").is_file():
        raise RunDirectoryError(
            f"`{directory}` is not an nndsl run directory (no run.json / spec.yaml)"
        )
    weights = directory / "final_weights.pt"
    if not weights.is_file():
        raise RunDirectoryError(
            f"`{directory}` has no final_weights.pt: the run did not finish "
            "(continue it with `nndsl train --resume`)"
        )
    record = read_json(directory / "run.json")
    text = (directory / "spec.yaml").read_text(encoding="utf-8")
    # Compiled under the original spec's name, so its relative data paths still resolve.
    spec_path = original_spec_path(directory, record.get("spec_path"))
    compiled = compile_spec(str(spec_path), [], text=text).raise_for_errors()
    network = build_trained_network(compiled)
    state = read_state_dict(weights)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise RunDirectoryError(
            f"`{weights}` does not fit the run's network: {str(error).splitlines()[0]}"
        ) from None
    network.eval()
    data = read_json(directory / "data.json") if (directory / "data.json").is_file() else {}
    classes, features = data.get("classes"), data.get("features")
    return TrainedRun(
        directory,
        compiled,
        network,
        tuple(classes) if classes else None,
        tuple(features) if features else None,
        _feature_statistics(directory, compiled),
    )


def _feature_statistics(directory: Path, compiled: Valid) -> FeatureStatistics | None:
    """The statistics training standardised with; a run whose spec asks for them must have them
    (predictions on raw inputs would be silently wrong)."""
    if not compiled.spec.data.standardize:
        return None
    path = directory / STATISTICS_FILE
    try:
        return read_statistics(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunDirectoryError(
            f"`{path}` cannot be read ({error}); the run standardised its inputs with it"
        ) from None


def original_spec_path(directory: Path, recorded: str | None) -> Path:
    """Where the run's spec was: run.json records the path as typed (relative to the folder
    training ran in), so from elsewhere it is looked for beside the run directory (`--run-dir`)
    and two levels up (`runs/NAME`); without a match, the run directory's own copy."""
    if not recorded:
        return directory / "spec.yaml"
    path = Path(recorded)
    candidates = [path] if path.is_absolute() else [
        path, directory.parent / path, directory.parent.parent / path]
    return next((candidate for candidate in candidates if candidate.is_file()),
                directory / "spec.yaml")


def build_trained_network(compiled: Valid) -> torch.nn.Module:
    """The plan's network (one graph module, or the ensemble), untrained: weights come next."""
    from nndsl.backend.networks import build_planned_network

    return build_planned_network(compiled.graph, compiled.plan)


class Predictor(torch.nn.Module):
    """The trained network as one module from inputs to outputs: a single network's output
    [B, ...], or an ensemble's stacked member outputs [M, B, ...] (the ensemble as one module;
    `combine` then averages probabilities or votes, as the run scored it). With `statistics`
    the raw inputs are standardised first, as training did."""

    def __init__(self, network: torch.nn.Module, ensemble: bool,
                 statistics: FeatureStatistics | None = None):
        super().__init__()
        self.network = network
        self.ensemble = ensemble
        self.standardize = Standardize(statistics) if statistics is not None else None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.standardize is not None:
            inputs = self.standardize(inputs)
        if self.ensemble:
            return self.network(inputs)  # type: ignore[no-any-return]
        output = self.network(inputs)
        return output[0] if isinstance(output, tuple) else output


class UnrolledEnsemble(torch.nn.Module):
    """An ensemble as plain modules for export: the shared trunk once, then each member in turn,
    outputs stacked [M, B, ...] (the vectorised form's torch.func calls cannot be traced)."""

    def __init__(self, network: Any, statistics: FeatureStatistics | None = None):
        super().__init__()
        self.standardize = Standardize(statistics) if statistics is not None else None
        ensemble = network.members
        self.trunk = ensemble.shared
        self.heads = torch.nn.ModuleList(
            ensemble.member(index) for index in range(ensemble.heads.members)
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.standardize is not None:
            inputs = self.standardize(inputs)
        features = self.trunk(inputs) if self.trunk is not None else inputs
        return torch.stack([head(features) for head in self.heads])
