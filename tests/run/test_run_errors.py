"""`nndsl train` and `nndsl report` on user mistakes: exit status 2, a clear message, no traceback.

Bad data files (missing npz, inconsistent shapes, labels out of range, non-numeric CSV) stop
before a run directory is made; a diverging loss stops naming its epoch and step and keeps the
last good checkpoint; `--resume` of a directory that is not a run and `report` of an unfinished
one are refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nndsl.cli import main

NPZ_SPEC = """
nndsl: 1
name: npz-run
seed: 1
data: {{source: npz, path: {path}, batch_size: 8, valid_fraction: 0.2{extra}}}
network:
  layers:
    - {{name: out, type: linear, units: {units}}}
loss: {{type: {loss}}}
optimizer: {{type: sgd, lr: {lr}}}
schedule:
  - {{phase: joint, stop: {{max_epochs: {epochs}}}}}
trainer: {{max_epochs: {epochs}}}
"""


def _spec(directory: Path, path: str = "data.npz", extra: str = "", units: int = 3,
          loss: str = "cross_entropy", lr: float = 0.1, epochs: int = 1) -> Path:
    spec = directory / "spec.yaml"
    spec.write_text(NPZ_SPEC.format(path=path, extra=extra, units=units, loss=loss, lr=lr,
                                    epochs=epochs))
    return spec


def _train_fails(arguments: list[str], capsys) -> str:
    status = main(["train", *arguments])
    error = capsys.readouterr().err
    assert status == 2, error
    assert "Traceback" not in error
    return " ".join(error.split())  # rich may wrap long lines


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default run directories (runs/...) land here
    return tmp_path


def test_missing_npz_file(workdir, capsys):
    error = _train_fails([str(_spec(workdir, path="missing.npz"))], capsys)
    assert "E412" in error and "'missing.npz' does not exist" in error
    assert not (workdir / "runs").exists()


def test_npz_with_inconsistent_row_counts(workdir, capsys):
    np.savez(workdir / "data.npz", inputs=np.zeros((10, 4), np.float32),
             targets=np.zeros(9, np.int64))
    error = _train_fails([str(_spec(workdir))], capsys)
    assert "'inputs' has 10 rows but 'targets' has 9" in error


def test_npz_labels_out_of_range_stop_before_a_run_directory_is_made(workdir, capsys):
    np.savez(workdir / "data.npz", inputs=np.zeros((10, 4), np.float32),
             targets=np.array([0, 1, 2, 5] * 2 + [0, 1]))
    spec = _spec(workdir, extra=", num_classes: 3")
    error = _train_fails([str(spec), "--run-dir", "run"], capsys)
    assert "E412" in error and re.search(r"label 5 is outside \[0, 3\)", error), error
    # Nothing was written, so the same --run-dir works once the data is fixed.
    assert not (workdir / "run").exists()


def test_csv_with_a_value_that_is_not_a_number(workdir, capsys):
    (workdir / "table.csv").write_text("a,b,target\n1.0,2.0,0\n3.0,oops,1\n")
    spec = workdir / "spec.yaml"
    spec.write_text(NPZ_SPEC.format(path="table.csv", extra="", units=2, loss="cross_entropy",
                                    lr=0.1, epochs=1)
                    .replace("source: npz", "source: csv"))
    error = _train_fails([str(spec)], capsys)
    assert "line 3, column 'b': 'oops' is not a number" in error
    assert not (workdir / "runs").exists()


@pytest.mark.slow
def test_diverging_loss_names_epoch_and_step_and_keeps_the_last_good_checkpoint(workdir, capsys):
    # MSE of a linear unit on constant inputs: each SGD step multiplies the error by 1 - 4 lr = -3,
    # so the loss overflows to inf after about 40 steps (5 epochs of 8 batches).
    np.savez(workdir / "data.npz", inputs=np.ones((80, 1), np.float32),
             targets=np.zeros((80, 1), np.float32))
    spec = _spec(workdir, units=1, loss="mse", lr=1.0, epochs=20)
    error = _train_fails([str(spec), "--run-dir", "run"], capsys)
    match = re.search(
        r"training diverged: the training loss became (nan|inf) at epoch (\d+), step (\d+)", error
    )
    assert match, error
    epoch, step = int(match.group(2)), int(match.group(3))
    assert epoch >= 1 and step > 8
    last = workdir / "run/checkpoints/joint/last.ckpt"
    assert f"the last good checkpoint is {Path('run/checkpoints/joint/last.ckpt')}" in error
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    # Saved at the end of an epoch before the divergence. (Lightning's save_last=True refreshes
    # last.ckpt only when the monitored value improves, so here it is the best epoch's state.)
    assert checkpoint["epoch"] < epoch and checkpoint["global_step"] < step
    assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values())
    assert not (workdir / "run/summary.json").exists()


def test_resume_of_a_directory_that_is_not_a_run(workdir, capsys):
    (workdir / "not-a-run").mkdir()
    error = _train_fails([str(_spec(workdir)), "--resume", "not-a-run"], capsys)
    assert "`not-a-run` is not an nndsl run directory" in error
    error = _train_fails([str(_spec(workdir)), "--resume", "nowhere"], capsys)
    assert "`nowhere` is not an nndsl run directory" in error


def test_report_prints_the_phase_table_of_a_finished_run(workdir, capsys):
    np.savez(workdir / "data.npz",
             inputs=np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32),
             targets=np.arange(40) % 3)
    assert main(["train", str(_spec(workdir)), "--run-dir", "run"]) == 0
    capsys.readouterr()
    summary = json.loads((workdir / "run/summary.json").read_text())
    assert main(["report", "run"]) == 0
    output = capsys.readouterr().out
    assert "npz-run" in output
    for column in ("phase", "epochs", "monitor", "best"):
        assert column in output
    best = summary["phases"][0]["best"]
    assert re.search(rf"joint\s.*\s1\s.*valid/loss\s.*{best:.4f}", output), output


def test_report_of_a_directory_without_a_summary(workdir, capsys):
    (workdir / "unfinished").mkdir()
    assert main(["report", "unfinished"]) == 2
    assert "holds no summary.json" in capsys.readouterr().err
