"""Run stage: the run directory, written atomically.

    RUN_DIR/
      spec.yaml          the resolved spec (fragments merged, overrides applied) and its hash
      plan.json          the compiled plan;  graph.json  the graph dump
      versions.json      package versions;   progress.json  where the schedule has got to
      logs/              Lightning's CSV (or TensorBoard) metrics
      checkpoints/       per phase and attempt: best.ckpt, last.ckpt
      summary.json       the results: phase table, test metrics
      run.json           how the run was started (spec path, overrides, spec hash) and its
                         status: running, finished, interrupted, or failed with the error
Every file is written to a temporary name and renamed, so a crash never leaves half a file.

Distributed runs: Lightning's `ddp` launcher re-runs the command in child processes (`LOCAL_RANK`
set). Only the primary process (rank 0) chooses and creates the directory, and it passes the
choice to the children through `NNDSL_RUN_DIR`, set before Lightning launches them; the children
reuse it. Only the primary process writes files here (`write_atomic` does nothing elsewhere), so
summaries and progress are written once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import yaml


#: The environment variable through which rank 0 hands its run directory to the other ranks.
RUN_DIRECTORY_VARIABLE = "NNDSL_RUN_DIR"
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


class RunDirectoryError(Exception):
    """A user error about the run directory (it exists, or is not a run)."""


def process_rank() -> int:
    """This process's rank in a distributed run (0 outside one), from the launcher's variables.

    Lightning's launcher sets `LOCAL_RANK` and `NODE_RANK` in the processes it starts; torchrun
    and cluster launchers set `RANK`, SLURM's `srun` sets `SLURM_PROCID`. Any nonzero one means
    this is not the primary process.
    """
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "0")
        if value.strip().isdigit() and int(value) != 0:
            return int(value)
    return 0


def is_primary_process() -> bool:
    """True in the process that writes the run directory (rank 0, or the only process)."""
    return process_rank() == 0


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename.

    Only the primary process writes; elsewhere (ranks above 0) this does nothing, since every rank
    computes the same file and one copy is wanted.
    """
    _replace_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def save_state(path: Path, state: Any) -> None:
    """`torch.save(state)` to `path` atomically, by the primary process only (as `write_atomic`):
    an interrupted save leaves the previous file, never half of one for a resume to read."""
    import torch

    _replace_atomically(path, lambda stream: torch.save(state, stream))


def _replace_atomically(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    if not is_primary_process():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def refuse_existing(path: Path) -> None:
    """Raise `RunDirectoryError` if `path` exists and is not empty (it is never overwritten); the
    message says what the directory holds (a run's status, from its run.json) and what to do."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        record = run_status(path) or {}
        holds = {"finished": "holds a finished run",
                 "interrupted": "holds an interrupted run",
                 "failed": f"holds a run that failed: {record.get('error')}",
                 "running": "holds a run that is still running or was killed",
                 }.get(record.get("status", ""), "already exists and is not empty")
        if record.get("status") == "finished":
            raise RunDirectoryError(f"run directory `{path}` {holds}; choose another --run-dir")
        raise RunDirectoryError(f"run directory `{path}` {holds}; choose another --run-dir, or "
                                f"continue it with --resume {path}")


def run_status(directory: Path) -> dict[str, Any] | None:
    """The run's record (run.json) when `directory` holds a readable one, else None."""
    try:
        record = read_json(directory / "run.json")
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def mark_run(directory: Path, status: str, error: BaseException | None = None) -> None:
    """Record in run.json how the run ended ("running", "finished", "interrupted", "failed"),
    with the error, so that a directory left by a failed run explains itself."""
    record = run_status(directory)
    if record is None:
        return
    record["status"] = status
    record.pop("error", None)
    if error is not None:
        text = str(error).strip().splitlines()
        record["error"] = f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
    try:
        write_json(directory / "run.json", record)
    except OSError:
        pass  # a directory that cannot be written (the failure being reported, perhaps) keeps none


@contextlib.contextmanager
def recording_outcome(
    directory: Path, interruptions: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
) -> Iterator[None]:
    """Mark the run "running" now and, when the block ends, "finished", "interrupted" (one of
    `interruptions`, Ctrl-C) or "failed" with the error, which propagates unchanged."""
    mark_run(directory, "running")
    try:
        yield
    except interruptions as error:
        mark_run(directory, "interrupted", error)
        raise
    except BaseException as error:
        mark_run(directory, "failed", error)
        raise
    mark_run(directory, "finished")


def new_run_directory(name: str, requested: str | None) -> Path:
    """A fresh run directory; an existing non-empty one is never overwritten."""
    if requested is not None:
        path = Path(requested)
        refuse_existing(path)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{name}-{stamp}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path("runs") / f"{name}-{stamp}-{suffix}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a read-only parent, a file in the way, a full disk
        raise RunDirectoryError(f"cannot create run directory `{path}`: "
                                f"{error.strerror or error}; choose another --run-dir") from None
    return path


def shared_run_directory(name: str, requested: str | None) -> Path:
    """The run directory of this run, the same in every process of a distributed run.

    The primary process makes a fresh directory (`new_run_directory`) and records its absolute
    path in `NNDSL_RUN_DIR`; processes a launcher starts later inherit the variable and reuse
    the directory, without checking that it is empty (rank 0 has just filled it).

    Raises:
        RunDirectoryError: the directory exists (primary process), or a process of rank > 0 was
            started without the variable and without `--run-dir` (an external launcher such as
            torchrun starts all ranks at once: name the directory).
    """
    if is_primary_process():
        path = new_run_directory(name, requested)
        os.environ[RUN_DIRECTORY_VARIABLE] = str(path.resolve())
        return path
    inherited = os.environ.get(RUN_DIRECTORY_VARIABLE)
    if inherited:
        return Path(inherited)
    if requested is not None:
        return Path(requested)
    raise RunDirectoryError(f"process of rank {process_rank()} does not know the run directory "
                            f"rank 0 chose; with a launcher that starts every rank itself, give "
                            f"--run-dir")


def spec_text(resolved_value: Any) -> tuple[str, str]:
    """The resolved spec as YAML and its hash (what `write_spec` saves and resuming compares)."""
    text = yaml.safe_dump(resolved_value, sort_keys=False)
    return text, hashlib.sha256(text.encode()).hexdigest()[:16]


def write_spec(path: Path, resolved_value: Any) -> str:
    """Save the resolved spec with its hash; returns the hash."""
    text, digest = spec_text(resolved_value)
    write_atomic(path / "spec.yaml", f"# nndsl resolved spec, sha256 {digest}\n{text}")
    return digest


def package_versions() -> dict[str, str]:
    versions = {}
    for package in ("nndsl", "torch", "lightning", "torchmetrics", "pydantic", "numpy", "networkx"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions
