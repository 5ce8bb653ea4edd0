"""DDP on CPU, ensemble and single network: both processes decide on the same, whole-split metrics.

Every process validates the whole validation split (an odd-sized one here, which a distributed
sampler would pad with a repeated example), so early stopping and checkpointing read the exact
whole-split values in every process. A script run under Lightning's ddp launcher (which re-runs it
as rank 1) records, in every process, the validation metrics that early stopping and checkpointing
read, and rank 0 saves the weights they were computed with; a one-process evaluation of those
weights on the whole split must give the same values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.run.rundir import RUN_DIRECTORY_VARIABLE

SPEC = """
nndsl: 1
name: ddp-ensemble
seed: 3
data: {source: digits, batch_size: 64, valid_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 8, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.1}
ensemble: {members: 2, method: smcl}
schedule:
  - {phase: joint, stop: {monitor: valid/oracle_accuracy, patience: 1, max_epochs: 3}}
trainer: {max_epochs: 3, limit_train_batches: 3, strategy: ddp, accelerator: cpu, devices: 2}
"""

# A single network validates through the same loaders, with torchmetrics objects.
PLAIN_SPEC = SPEC.replace("ensemble: {members: 2, method: smcl}\n", "").replace(
    "valid/oracle_accuracy", "valid/loss")

SCRIPT = """
import json
import torch
from lightning.pytorch.callbacks import Callback
import nndsl.run.session as session
from nndsl.run import train


class RecordValidation(Callback):
    def on_validation_end(self, trainer, module):
        values = {key: float(value) for key, value in trainer.callback_metrics.items()
                  if key.startswith("valid/")}
        if trainer.global_rank == 0:
            torch.save(module.network.state_dict(), f"weights{trainer.current_epoch}.pt")
        with open(f"rank{trainer.global_rank}.jsonl", "a") as stream:
            stream.write(json.dumps({"epoch": trainer.current_epoch, **values}) + "\\n")


original = session.trainer_for
session.trainer_for = lambda context, label, stop, callbacks: original(
    context, label, stop, [*callbacks, RecordValidation()])
train("spec.yaml", run_dir="run", progress_bar=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "keys"), [
    (SPEC, ("valid/loss", "valid/accuracy", "valid/oracle_accuracy")),
    (PLAIN_SPEC, ("valid/loss", "valid/accuracy")),
], ids=["ensemble", "single-network"])
def test_ddp_processes_decide_on_exact_whole_split_validation_metrics(tmp_path: Path, spec: str,
                                                                      keys: tuple[str, ...]):
    assert spec.count("ensemble:") == (len(keys) == 3)
    (tmp_path / "spec.yaml").write_text(spec)
    (tmp_path / "script.py").write_text(SCRIPT)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE",
                                  RUN_DIRECTORY_VARIABLE)}
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=500)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [
        [json.loads(line) for line in (tmp_path / f"rank{rank}.jsonl").read_text().splitlines()]
        for rank in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1]) >= 1  # both processes stopped after the same epoch
    assert [row["epoch"] for row in ranks[0]] == [row["epoch"] for row in ranks[1]]
    for zero, one in zip(*ranks):
        assert set(zero) >= set(keys)
        assert zero == pytest.approx(one, abs=1e-6), (zero, one)
        expected = _one_process_validation(tmp_path / "run",
                                           tmp_path / f"weights{zero['epoch']}.pt")
        for key in keys:
            assert zero[key] == pytest.approx(expected[key], rel=1e-5,
                                              abs=1e-6), (key, zero, expected)


def _one_process_validation(directory: Path, weights: Path) -> dict[str, float]:
    """The network's validation metrics with `weights`, from one process scoring the whole split."""
    import contextlib
    import io

    import torch

    from nndsl.api import compile_spec
    from nndsl.backend.losses import CompiledLoss
    from nndsl.run.session import RunContext, build_module, build_network, evaluation_trainer
    from nndsl.run.train import load_data

    compiled = compile_spec(directory / "spec.yaml").raise_for_errors()
    datamodule = load_data(compiled)
    assert len(datamodule.splits.valid) % 2 == 1  # odd: a distributed sampler would pad it
    network = build_network(compiled, datamodule)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    signature = compiled.signature
    loss = CompiledLoss(compiled.spec.loss, signature.target_kind, len(datamodule.splits.train))
    context = RunContext(compiled, network, datamodule, loss, directory)
    with contextlib.redirect_stdout(io.StringIO()):
        results = evaluation_trainer(context).validate(
            build_module(context, (), (), compiled.spec.optimizer, 1),
            datamodule=datamodule,
            verbose=False,
        )
    return {key: float(value) for key, value in results[0].items()}
