"""Run stage: compile, load data, make (or reopen) the run directory, build, run the schedule, test.

In: a spec path with overrides (or a run directory to resume). Out: a `RunResult` with the run
directory and its summary; files as described in `nndsl.run.rundir`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nndsl.api import Valid, compile_spec
from nndsl.data.registry import DATA_SOURCES, DataSourceError
from nndsl.diagnostics import Diagnostic, SpecError
from nndsl.run.rundir import (RunDirectoryError, is_primary_process, package_versions,
                              recording_outcome, refuse_existing, save_state, shared_run_directory,
                              write_json, write_spec)
from nndsl.source import locate, to_plain

if TYPE_CHECKING:  # torch is imported only once training starts
    from nndsl.backend.datamodule import ArrayDataModule
    from nndsl.backend.streaming import StreamingDataModule
    from nndsl.run.session import PhasePrinter


@dataclass(frozen=True)
class RunResult:
    directory: Path
    summary: dict[str, Any]


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the run directory keeps the last good checkpoint.

    Attributes:
        directory: the run directory.
        checkpoint: the newest `last.ckpt` saved before the divergence, or None when it happened
            before the first epoch ended.
    """

    def __init__(self, message: str, directory: Path, checkpoint: Path | None):
        super().__init__(message)
        self.directory = directory
        self.checkpoint = checkpoint


def compile_run(spec_path: str | None, overrides: list[str],
                resume: str | None) -> tuple[Valid, Path | None]:
    """Compile the spec, or the spec of the run directory being resumed (`nndsl.run.resume_check`:
    what is given must resolve to the run's own spec).

    Returns:
        The compiled spec, and the directory to resume (None for a new run).
    """
    if resume is not None:
        from nndsl.run.resume_check import compile_resumed

        return compile_resumed(Path(resume), spec_path, overrides), Path(resume)
    if spec_path is None:
        raise RunDirectoryError("give a SPEC to train, or --resume RUN_DIR to continue a run")
    return compile_spec(spec_path, overrides).raise_for_errors(), None


def open_run_directory(compiled: Valid, spec_path: str, overrides: list[str],
                       run_dir: str | None) -> Path:
    """Make the new run's directory and write what describes it (spec, plan, graph, versions)."""
    directory = _run_directory(compiled.spec.name, run_dir)
    digest = write_spec(directory, to_plain(compiled.resolved.root))
    # The spec's absolute path: `--resume` finds it again from any working directory.
    write_json(directory / "run.json", {"spec_path": str(Path(spec_path).resolve()),
                                        "overrides": overrides, "spec_hash": digest})
    write_json(directory / "plan.json", compiled.plan.to_dict())
    write_json(directory / "graph.json", compiled.graph.to_dict())
    write_json(directory / "versions.json", package_versions())
    return directory


def _run_directory(name: str, requested: str | None) -> Path:
    """The run directory, agreed by every process of a distributed run.

    Before Lightning has launched anything, rank 0 chooses and the children it launches inherit
    the choice (`shared_run_directory`). When the processes already form a process group (a
    program that trains a second spec after a ddp run), rank 0 broadcasts its choice instead,
    since the children's inherited variable names the first run's directory.
    """
    import torch.distributed as distributed

    if not (distributed.is_available() and distributed.is_initialized()
            and distributed.get_world_size() > 1):
        return shared_run_directory(name, requested)
    choice: list[Any] = [None]
    if distributed.get_rank() == 0:
        try:
            choice[0] = str(shared_run_directory(name, requested).resolve())
        except RunDirectoryError as error:
            choice[0] = error  # every rank raises it, rather than the others waiting forever
    distributed.broadcast_object_list(choice, src=0)
    if isinstance(choice[0], RunDirectoryError):
        raise choice[0]
    return Path(choice[0])


def data_error(compiled: Valid, error: DataSourceError) -> SpecError:
    """A data problem as a diagnostic located at its `data:` key (exit 2)."""
    where = ("data", error.field) if error.field else ("data",)
    return SpecError([Diagnostic(error.code, error.message, locate(compiled.resolved.root, where),
                                 error.hint)])


def load_data(compiled: Valid) -> ArrayDataModule | StreamingDataModule:
    """The source's arrays in a Lightning data module; data problems become diagnostics (exit 2)."""
    from nndsl.backend.data_choice import open_data_module
    from nndsl.data.file_checks import check_matches_validation
    from nndsl.data.lazy_store import ArrayStore
    from nndsl.run.launch import single_process

    spec = compiled.spec
    base = Path(compiled.path).parent
    seed = spec.data.seed if spec.data.seed is not None else spec.seed
    try:
        module = open_data_module(DATA_SOURCES.get(spec.data.source), spec.data, base, seed,
                                  shared_statistics=not single_process(spec.trainer))
        store = getattr(module, "store", None)
        if store is not None and not isinstance(store, ArrayStore):  # read lazily from files
            check_matches_validation(compiled.signature, store)
        return module
    except DataSourceError as error:
        raise data_error(compiled, error) from None
    except OSError as error:  # a file the system refuses to read (permissions, a vanished disk)
        raise SpecError([Diagnostic("E412", f"data: {error.strerror or error}: {error.filename}",
                                    locate(compiled.resolved.root, ("data",)),
                                    "check the file paths under `data:`")]) from None


def write_statistics(directory: Path, statistics: Any) -> None:
    """The fitted `FeatureStatistics`, for `nndsl predict` and `export` (rank 0 writes)."""
    from nndsl.data.standardize import STATISTICS_FILE

    write_json(directory / STATISTICS_FILE, statistics.to_dict())


def train(spec_path: str | None, overrides: list[str] | None = None, run_dir: str | None = None,
          resume: str | None = None, fast_dev_run: bool = False,
          printer: PhasePrinter | None = None, progress_bar: bool = True) -> RunResult:
    """Train a spec (or resume a run directory, `spec_path` then optional); returns the summary."""
    import torch
    from lightning.pytorch import seed_everything

    from nndsl.backend.losses import CompiledLoss
    from nndsl.run.schedule import Interrupted, run_schedule
    from nndsl.run.session import (RunContext, build_module, build_network, evaluation_trainer,
                                   test_report)

    _quiet_lightning()
    if resume is not None and run_dir is not None:
        raise RunDirectoryError("--run-dir and --resume exclude each other: a resumed run "
                                "continues in its own directory")
    if resume is not None and fast_dev_run:
        raise RunDirectoryError("--fast-dev-run and --resume exclude each other: one batch per "
                                "phase would be recorded in the run as its finished phases")
    compiled, directory = compile_run(spec_path, overrides or [], resume)
    resuming = directory is not None
    spec, plan, signature = compiled.spec, compiled.plan, compiled.signature
    from nndsl.run.launch import check_launch

    check_launch(spec.trainer)  # before anything is written: the launch fits the trainer
    if directory is None and run_dir is not None and is_primary_process():
        refuse_existing(Path(run_dir))  # before loading data, which may take a while
    if plan.init is not None or any(phase.init is not None for phase in plan.phases):
        from nndsl.run.init_weights import check_init_sources

        check_init_sources(plan, compiled)  # before the run directory is made
    seed_everything(spec.seed, workers=True, verbose=False)
    datamodule = load_data(compiled)
    if directory is None:
        # Only now: a data problem (exit 2) leaves no half-made run directory behind, so the same
        # --run-dir can be used again once the data is fixed.
        directory = open_run_directory(compiled, str(spec_path), overrides or [], run_dir)
    if is_primary_process():  # for `nndsl predict`: labels by name, CSV columns by name
        features = getattr(datamodule.splits.train, "feature_names", None)
        # Each class index's name (a source's names, else the index itself): the label map.
        classes = datamodule.class_names or (
            [str(index) for index in range(signature.num_classes or 0)]
            if signature.target_kind == "class" else None)
        write_json(directory / "data.json", {
            "classes": list(classes) if classes else None,
            "features": list(features) if features else None})
        # Fitted on the training split only; under DDP once the processes have started.
        datamodule.when_statistics_fitted(partial(write_statistics, directory))
    store = getattr(datamodule, "store", None)  # a streamed data set: statistics in one pass
    if store is not None and is_primary_process():
        from nndsl.data.statistics import streaming_statistics

        write_json(directory / "data_statistics.json", streaming_statistics(
            store, datamodule.splits.train.indices, signature.num_classes))
    # run.json says how the run ended, a failure included.
    with recording_outcome(directory, (KeyboardInterrupt, Interrupted)):
        torch.manual_seed(spec.seed)
        network = build_network(compiled, datamodule)
        if plan.init is not None:  # on resume, finished runs' states replace it again
            from nndsl.run.init_weights import load_initial_weights

            load_initial_weights(network, plan.init)
        loss = CompiledLoss(plan.loss, signature.target_kind, len(datamodule.splits.train),
                            plan.loss_terms)
        context = RunContext(compiled, network, datamodule, loss, directory, fast_dev_run,
                             printer=printer, progress_bar=progress_bar)
        try:
            rows = run_schedule(context)
        except Interrupted as interrupted:
            interrupted.directory = directory  # for the message saying how to continue
            raise
        except FloatingPointError as error:
            raise TrainingDiverged(str(error), directory, _newest_checkpoint(directory)) from None
        except DataSourceError as error:  # a lazily read example (outside the checked sample)
            raise data_error(compiled, error) from None
        test_metrics: dict[str, float] = {}
        # The final test uses the last phase's class selection (and numbering), if it has one.
        from nndsl.run.selection import phase_context

        context = phase_context(context, plan.phases[-1]) if plan.phases else context
        datamodule = context.datamodule
        if datamodule.splits.test is not None and not fast_dev_run:
            module = build_module(context, (), (), spec.optimizer, 1)
            results = evaluation_trainer(context).test(module, datamodule=datamodule, verbose=False)
            test_metrics = {key: float(value)
                            for key, value in (results[0] if results else {}).items()}
        summary = {"name": spec.name, "seed": spec.seed, "resumed": resuming, "phases": rows,
                   "test": test_metrics, "parameters": compiled.graph.parameter_count}
        if datamodule.splits.test is not None and not fast_dev_run:
            from nndsl.run.confusion import write_confusion_matrix

            summary.update(test_report(context, module))
            summary.update(write_confusion_matrix(module, datamodule.class_names, directory))
        write_json(directory / "summary.json", summary)
        save_state(directory / "final_weights.pt", network.state_dict())
    return RunResult(directory, summary)


def _newest_checkpoint(directory: Path) -> Path | None:
    saved = sorted((directory / "checkpoints").glob("**/last.ckpt"),
                   key=lambda path: path.stat().st_mtime)
    return saved[-1] if saved else None


def _quiet_lightning() -> None:
    # Lightning's tips ("consider num_workers", "GPU available but not used") are not the
    # user's business in a CPU tutorial run; real problems still surface as exceptions.
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    # Lightning's own pytree helper still builds torch's deprecated LeafSpec; the warning is
    # about Lightning's code, not the user's, and printed on every run. Only that warning from
    # only that module is silenced.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning,
                            module=r"lightning\.pytorch\.utilities\._pytree")
    # torchdata's StatefulDataLoader calls torch's deprecated set_vital on every iterator; the
    # warning concerns torchdata's code, not the user's.
    warnings.filterwarnings("ignore", message=r"'set_vital' is deprecated", category=UserWarning,
                            module=r"torchdata\.stateful_dataloader")
