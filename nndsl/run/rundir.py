"""Run stage: the run directory, written atomically.

    RUN_DIR/
      spec.yaml          the resolved spec (fragments merged, overrides applied) and its hash
      plan.json          the compiled plan;  graph.json  the graph dump
      versions.json      package versions;   progress.json  where the schedule has got to
      logs/              Lightning's CSV (or TensorBoard) metrics
      checkpoints/       per phase and attempt: best.ckpt, last.ckpt
      summary.json       the results: phase table, test metrics
Every file is written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml


class RunDirectoryError(Exception):
    """A user error about the run directory (it exists, or is not a run)."""


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def new_run_directory(name: str, requested: str | None) -> Path:
    """A fresh run directory; an existing non-empty one is never overwritten."""
    if requested is not None:
        path = Path(requested)
        if path.exists() and any(path.iterdir()):
            raise RunDirectoryError(f"run directory `{path}` already exists and is not empty; "
                                    "choose another --run-dir, or continue it with --resume")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{name}-{stamp}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path("runs") / f"{name}-{stamp}-{suffix}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_spec(path: Path, resolved_value: Any) -> str:
    """Save the resolved spec with its hash; returns the hash."""
    text = yaml.safe_dump(resolved_value, sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
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
