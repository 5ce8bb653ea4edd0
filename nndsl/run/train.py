"""Run stage: compile, prepare the run directory, load data, build, run the schedule, test.

In: a spec path with overrides (or a run directory to resume). Out: a `RunResult` with the run
directory and its summary; files as described in `nndsl.run.rundir`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nndsl.api import Compiled, compile_spec
from nndsl.data.registry import DATA_SOURCES, DataSourceError
from nndsl.diagnostics import Diagnostic, SpecError
from nndsl.run.rundir import (RunDirectoryError, new_run_directory, package_versions, read_json, write_json,
                              write_spec)
from nndsl.source import locate, to_plain


@dataclass(frozen=True)
class RunResult:
    directory: Path
    summary: dict[str, Any]


def prepare(spec_path: str | None, overrides: list[str], run_dir: str | None, resume: str | None
            ) -> tuple[Compiled, Path, bool]:
    """Compile the spec and make (or reopen) the run directory."""
    if resume is not None:
        directory = Path(resume)
        if not (directory / "run.json").exists():
            raise RunDirectoryError(f"`{directory}` is not an nndsl run directory (no run.json)")
        record = read_json(directory / "run.json")
        compiled = compile_spec(record["spec_path"], record["overrides"]).raise_for_errors()
        digest = write_spec(directory / "check", to_plain(compiled.resolved.root))  # type: ignore[union-attr]
        (directory / "check" / "spec.yaml").unlink()
        (directory / "check").rmdir()
        if digest != record["spec_hash"]:
            raise RunDirectoryError(f"`{record['spec_path']}` changed since this run started; resuming would mix "
                                    "two experiments — start a new run instead")
        return compiled, directory, True
    assert spec_path is not None
    compiled = compile_spec(spec_path, overrides).raise_for_errors()
    directory = new_run_directory(compiled.spec.name, run_dir)  # type: ignore[union-attr]
    digest = write_spec(directory, to_plain(compiled.resolved.root))  # type: ignore[union-attr]
    write_json(directory / "run.json", {"spec_path": str(spec_path), "overrides": overrides, "spec_hash": digest})
    write_json(directory / "plan.json", compiled.plan.to_dict())  # type: ignore[union-attr]
    write_json(directory / "graph.json", compiled.graph.to_dict())  # type: ignore[union-attr]
    write_json(directory / "versions.json", package_versions())
    return compiled, directory, False


def load_data(compiled: Compiled) -> Any:
    """The source's arrays in a Lightning data module; data problems become diagnostics (exit 2)."""
    from nndsl.backend.datamodule import ArrayDataModule

    spec = compiled.spec
    assert spec is not None and compiled.resolved is not None
    base = Path(compiled.path).parent
    seed = spec.data.seed if spec.data.seed is not None else spec.seed
    try:
        arrays = DATA_SOURCES.get(spec.data.source).load(spec.data.options, base, seed)
        return ArrayDataModule(arrays, spec.data.batch_size, spec.data.valid_fraction, spec.data.test_fraction,
                               seed, spec.data.num_workers)
    except DataSourceError as error:
        where = ("data", error.field) if error.field else ("data",)
        raise SpecError([Diagnostic("E412", error.message, locate(compiled.resolved.root, where), error.hint)]) from None


def train(spec_path: str | None, overrides: list[str] | None = None, run_dir: str | None = None,
          resume: str | None = None, fast_dev_run: bool = False, printer: Any = None) -> RunResult:
    """Train a spec (or resume a run directory) and return its summary."""
    import torch
    from lightning.pytorch import seed_everything

    from nndsl.backend.graph_module import GraphModule
    from nndsl.backend.losses import CompiledLoss
    from nndsl.run.schedule import run_schedule
    from nndsl.run.session import RunContext, build_module, trainer_for

    _quiet_lightning()
    compiled, directory, resuming = prepare(spec_path, overrides or [], run_dir, resume)
    spec, plan, signature = compiled.spec, compiled.plan, compiled.signature
    assert spec is not None and plan is not None and signature is not None and compiled.graph is not None
    seed_everything(spec.seed, workers=True, verbose=False)
    datamodule = load_data(compiled)
    torch.manual_seed(spec.seed)
    network = GraphModule(compiled.graph)
    loss = CompiledLoss(spec.loss, signature.target_kind, len(datamodule.splits.train), bool(plan.loss_terms))
    context = RunContext(spec, plan, network, datamodule, loss, directory, signature.target_kind,
                         signature.num_classes, fast_dev_run, printer=printer)
    rows = run_schedule(context)
    test_metrics: dict[str, float] = {}
    if datamodule.splits.test is not None and not fast_dev_run:
        from nndsl.plan import StopPlan

        module = build_module(context, (), (), spec.optimizer, 1)
        tester = trainer_for(context, "test", StopPlan("valid/loss", "min", None, 1), [])
        results = tester.test(module, datamodule=datamodule, verbose=False)
        test_metrics = {key: float(value) for key, value in (results[0] if results else {}).items()}
    summary = {"name": spec.name, "seed": spec.seed, "resumed": resuming, "phases": rows, "test": test_metrics,
               "parameters": compiled.graph.parameter_count}
    write_json(directory / "summary.json", summary)
    torch.save(network.state_dict(), directory / "final_weights.pt")
    return RunResult(directory, summary)


def _quiet_lightning() -> None:
    # Lightning's tips ("consider num_workers", "GPU available but not used") are not the
    # user's business in a CPU tutorial run; real problems still surface as exceptions.
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
