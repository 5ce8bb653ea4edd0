"""DDP on CPU: `nndsl train` under Lightning's ddp strategy with 2 processes, for real.

Lightning's launcher re-runs the command line in a child process (LOCAL_RANK=1); the run stage
must let rank 0 alone choose and write the run directory, and rank 1 reuse it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.run.rundir import (
    RUN_DIRECTORY_VARIABLE,
    is_primary_process,
    shared_run_directory,
    write_json,
)

SPEC = """
nndsl: 1
name: tiny-ddp
seed: 5
data: {source: digits, batch_size: 64, valid_fraction: 0.2, test_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 16, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.1, momentum: 0.9}
schedule:
  - {phase: joint, stop: {max_epochs: 2}}
trainer: {max_epochs: 2, limit_train_batches: 4%s}
"""

DDP_KEYS = ", strategy: ddp, accelerator: cpu, devices: 2"
DDP_OVERRIDES = ["--set", "trainer.strategy=ddp", "--set", "trainer.devices=2",
                 "--set", "trainer.accelerator=cpu"]


def _nndsl(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`nndsl ...` as the console script, as a user runs it (Lightning re-runs this command
    line)."""
    script = Path(sys.executable).with_name("nndsl")
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE",
                                  RUN_DIRECTORY_VARIABLE)}
    environment["COLUMNS"] = "200"
    return subprocess.run([str(script), *arguments], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=500)


def _check_run(directory: Path, result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["phases"][0]["run"] == "joint" and summary["phases"][0]["epochs"] == 2
    assert set(summary["test"]) >= {"test/loss", "test/accuracy"}
    progress = json.loads((directory / "progress.json").read_text())
    assert list(progress["runs"]) == ["joint"]
    with open(directory / "logs/joint/metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    valid_losses = [float(row["valid/loss"]) for row in rows if row.get("valid/loss")]
    train_losses = [float(row["train/loss"]) for row in rows if row.get("train/loss")]
    assert len(valid_losses) == 2 and len(train_losses) == 2  # one per epoch, written once (rank 0)
    assert (directory / "checkpoints/joint/best.ckpt").exists()
    # Only rank 0 prints: one phase announcement and one results table.
    assert result.stdout.count("▶ phase joint") == 1
    assert result.stdout.count("test: test/loss") == 1
    # Both processes trained: Lightning reports two members of the process group.
    assert "MEMBER: 2/2" in result.stdout + result.stderr
    # The test split (359 examples, odd) is scored whole, as one process scores it: a distributed
    # sampler would have repeated an example to give both ranks 180.
    expected = _one_process_test_metrics(directory)
    assert summary["test"]["test/accuracy"] == pytest.approx(expected["test/accuracy"], abs=1e-6)
    assert summary["test"]["test/loss"] == pytest.approx(expected["test/loss"], rel=1e-5)


def _one_process_test_metrics(directory: Path) -> dict[str, float]:
    import contextlib
    import io

    import torch
    from lightning.pytorch import Trainer

    from nndsl.api import compile_spec
    from nndsl.backend.graph_module import GraphModule
    from nndsl.backend.losses import CompiledLoss
    from nndsl.run.session import RunContext, build_module
    from nndsl.run.train import load_data

    compiled = compile_spec(directory / "spec.yaml").raise_for_errors()
    datamodule = load_data(compiled)
    assert len(datamodule.splits.test) == 359
    network = GraphModule(compiled.graph, compiled.plan.tempering)
    network.load_state_dict(torch.load(directory / "final_weights.pt", map_location="cpu",
                                       weights_only=True))
    signature = compiled.signature
    loss = CompiledLoss(compiled.spec.loss, signature.target_kind, len(datamodule.splits.train))
    context = RunContext(compiled, network, datamodule, loss, directory)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False)
    with contextlib.redirect_stdout(io.StringIO()):
        results = trainer.test(build_module(context, (), (), compiled.spec.optimizer, 1),
                               datamodule=datamodule,
                               verbose=False)
    return {key: float(value) for key, value in results[0].items()}


@pytest.mark.slow
def test_ddp_two_cpu_processes_share_one_run_directory(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC % DDP_KEYS)
    result = _nndsl(["train", "spec.yaml"], tmp_path)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 reused rank 0's directory instead of making its own
    _check_run(runs[0], result)


@pytest.mark.slow
def test_ddp_from_overrides_with_an_explicit_run_directory(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC % "")
    result = _nndsl(["train", "spec.yaml", "--run-dir", "explicit", *DDP_OVERRIDES], tmp_path)
    assert "already exists" not in result.stderr
    assert not (tmp_path / "runs").exists()
    _check_run(tmp_path / "explicit", result)


def test_rank_one_reuses_the_directory_rank_zero_chose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", RUN_DIRECTORY_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    chosen = shared_run_directory("name", "explicit")
    write_json(chosen / "summary.json", {"rank": 0})
    assert os.environ[RUN_DIRECTORY_VARIABLE] == str((tmp_path / "explicit").resolve())
    monkeypatch.setenv("LOCAL_RANK", "1")  # what Lightning's launcher gives the child process
    assert not is_primary_process()
    # no "already exists"
    assert shared_run_directory("name", "explicit") == (tmp_path / "explicit").resolve()
    write_json(chosen / "summary.json", {"rank": 1})  # ranks above 0 write nothing
    assert json.loads((chosen / "summary.json").read_text()) == {"rank": 0}


NAN_SPEC = """
nndsl: 1
name: nan-ddp
seed: 1
data: {source: npz, path: data.npz, batch_size: 1, valid_fraction: 0.2, test_fraction: 0.0}
network:
  layers:
    - {name: out, type: linear, units: 1}
loss: {type: mse}
optimizer: {type: sgd, lr: 0.01}
schedule:
  - {phase: joint, stop: {max_epochs: 1}}
trainer: {max_epochs: 1, strategy: ddp, accelerator: cpu, devices: 2}
"""


@pytest.mark.slow
def test_ddp_a_non_finite_loss_on_one_process_stops_both(tmp_path):
    """Some examples (batch size 1) have a huge input whose squared error overflows float32, so a
    step where one rank alone sees an infinite loss comes early; both must stop with the
    diagnosis (exit 2) instead of one waiting for the other in the gradient all-reduce."""
    import numpy as np

    inputs = np.ones((40, 1), np.float32)
    inputs[::5] = 1e30
    np.savez(tmp_path / "data.npz", inputs=inputs, targets=np.zeros((40, 1), np.float32))
    (tmp_path / "spec.yaml").write_text(NAN_SPEC)
    result = _nndsl(["train", "spec.yaml", "--run-dir", "run"], tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert re.search(r"the training loss became (inf|nan|non-finite on another process) at epoch 0",
                     result.stdout + result.stderr)
