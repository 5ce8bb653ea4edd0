"""A run with a per-step learning-rate schedule (warmup then cosine) interrupted by Ctrl-C in
mid-epoch resumes to the uninterrupted run, bit for bit (CPU), for both data modules.

The schedule's length is the run's optimiser-step count; counting it must not build the training
loader before Lightning restores a resumed run's loop and loader position (the resumed epoch
would otherwise restart from its first batch, while the loop counts on from the interrupted one).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from interrupting import assert_same_run, interrupt_at, positions
from spec_texts import dense_spec

from nndsl.run import train
from nndsl.run.schedule import Interrupted

SPECS = Path(__file__).resolve().parents[2] / "specs"

# Digits in batches of 128: 9 training batches per epoch, every one of them trained.
PLAIN = dense_spec("scheduled-resume", 7, lr=0.1, repeat=2, dropout=0.2, cuts=False,
                   scheduler="{type: cosine, warmup: 4, interval: step}",
                   schedule=("{phase: joint, stop: {max_epochs: 2}}",),
                   trainer="{max_epochs: 2, log_every_n_steps: 1}")
PLAIN_BATCHES = 9

# Memory-mapped .npy files read lazily (the streaming data module), in batches of 6: 6 per epoch.
STREAMING = """
nndsl: 1
name: scheduled-resume-streaming
seed: 4
data: {source: npy_dir, path: data/speakers_npy, batch_size: 6, valid_fraction: 0.2,
       test_fraction: 0.2}
network:
  layers:
    - {name: frame, type: linear, units: 8, activation: tanh}
    - {name: drop, type: dropout, p: 0.2}
    - {name: pool, type: global_pool}
    - {name: out, type: linear, units: 3}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer:
  type: adam
  lr: 0.01
  scheduler: {type: cosine, warmup: 3, interval: step}
schedule:
  - {phase: joint, stop: {max_epochs: 2}}
trainer: {max_epochs: 2, log_every_n_steps: 1}
"""


def _rates(run: Path) -> list[float]:
    with (run / "logs/joint/metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    rate, = (column for column in rows[0] if column.startswith("lr"))  # one parameter group
    return [float(row[rate]) for row in rows if row[rate]]


def _reference(tmp_path_factory, text: str, data: bool = False) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reference")
    if data:
        shutil.copytree(SPECS / "data/speakers_npy", root / "data/speakers_npy")
    (root / "spec.yaml").write_text(text)
    train(str(root / "spec.yaml"), run_dir=str(root / "run"), progress_bar=False)
    return root / "spec.yaml", root / "run"


def _interrupt_and_resume(monkeypatch, spec: Path, directory: Path, epoch: int,
                          batch: int) -> None:
    with monkeypatch.context() as patch:
        interrupt_at(patch, "joint", epoch, batch)
        with pytest.raises(Interrupted):
            train(str(spec), run_dir=str(directory), progress_bar=False)
    assert not (directory / "summary.json").exists()
    train(None, resume=str(directory), progress_bar=False)


def test_a_warmup_cosine_run_interrupted_in_mid_epoch_resumes_bit_for_bit(
        tmp_path_factory, tmp_path, monkeypatch):
    spec, reference = _reference(tmp_path_factory, PLAIN)
    rates = _rates(reference)  # one per step: the warmup rises, the cosine then falls to 0
    assert len(rates) == 2 * PLAIN_BATCHES
    assert rates[0] < rates[3] < rates[4] and rates[4] > rates[-1]
    (epoch, batch), = positions(seed=2024, count=1, epochs=2, batches=PLAIN_BATCHES - 1)
    _interrupt_and_resume(monkeypatch, spec, tmp_path / "run", epoch, batch)
    assert_same_run(tmp_path / "run", reference)


def test_a_streamed_warmup_cosine_run_interrupted_in_mid_epoch_resumes_bit_for_bit(
        tmp_path_factory, tmp_path, monkeypatch):
    spec, reference = _reference(tmp_path_factory, STREAMING, data=True)
    shutil.copytree(spec.parent / "data", tmp_path / "data")
    (tmp_path / "spec.yaml").write_text(spec.read_text())
    batches = len(_rates(reference)) // 2
    assert batches >= 3
    (epoch, batch), = positions(seed=2025, count=1, epochs=2, batches=batches - 1)
    _interrupt_and_resume(monkeypatch, tmp_path / "spec.yaml", tmp_path / "run", epoch, batch)
    assert_same_run(tmp_path / "run", reference)
