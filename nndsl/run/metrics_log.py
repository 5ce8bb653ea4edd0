"""Run stage: a run's `logs/<label>/metrics.csv` that keeps its history across a resume.

In: the run directory and the run's label. Out: `HistoryCSVLogger`, Lightning's CSV logger whose
writer reads the rows an interrupted process wrote instead of deleting them (Lightning's own
writer empties an existing `metrics.csv`), and `KeepHistoryUntilResume`, the callback that tells
it where the resumed run starts: rows logged at or after the checkpoint's global step are dropped
(the resumed run logs them again), rows before it are kept. A row the resumed run logs again with
the same epoch, step and metric names replaces the earlier one. The file therefore reads as one
uninterrupted run: every epoch once, in order.

Rows are written as they are logged (every log call flushes), and each write replaces the whole
file atomically, so an interrupt or a kill never leaves a half-written row or loses an epoch that
was logged before it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from nndsl.run.rundir import write_atomic

Row = dict[str, Any]


def _read_rows(path: Path) -> list[Row]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as stream:
        return [{key: value for key, value in row.items() if value not in ("", None)}
                for row in csv.DictReader(stream)]


def _step(row: Row) -> int:
    return int(float(row.get("step", 0)))


def _identity(row: Row) -> tuple[str, str, frozenset[str]]:
    """What makes two rows the same record: epoch, step and which metrics the row holds."""
    names = frozenset(key for key in row if key not in ("epoch", "step"))
    return str(row.get("epoch", "")), str(_step(row)), names


class _HistoryWriter(ExperimentWriter):
    """Lightning's CSV writer that keeps the rows already in `metrics.csv` (module docstring)."""

    def __init__(self, log_dir: str) -> None:
        self.history = _read_rows(Path(log_dir) / self.NAME_METRICS_FILE)
        self.written: list[Row] = []
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        """Lightning's writer deletes an existing metrics.csv here; this one keeps it as history."""

    def resume_at(self, global_step: int) -> None:
        """Drop the history from `global_step` on: the resumed run logs those rows again."""
        self.history = [row for row in self.history if _step(row) < global_step]

    def save(self) -> None:
        if not self.metrics:
            return
        self.written.extend(self.metrics)
        self.metrics = []
        again = {_identity(row) for row in self.written}
        rows = [row for row in self.history if _identity(row) not in again] + self.written
        names = sorted({key for row in rows for key in row})
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
        self.metrics_keys = names
        write_atomic(Path(self.metrics_file_path), text.getvalue())


class HistoryCSVLogger(CSVLogger):
    """`CSVLogger` (flushing every logged row) whose `metrics.csv` keeps a resumed run's history."""

    def __init__(self, save_dir: Path, name: str) -> None:
        super().__init__(save_dir, name=name, version="", flush_logs_every_n_steps=1)

    @property
    @rank_zero_experiment
    def experiment(self) -> _HistoryWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _HistoryWriter(log_dir=self.log_dir)
        return self._experiment


class KeepHistoryUntilResume(Callback):
    """At the start of training (after a checkpoint was restored), cut the logger's history at
    the global step the run continues from."""

    def __init__(self, logger: HistoryCSVLogger) -> None:
        self.logger = logger

    def on_train_start(self, trainer: Any, module: Any) -> None:
        if trainer.is_global_zero:
            self.logger.experiment.resume_at(trainer.global_step)
