"""Trainer options from the spec reach Lightning: schedulers, the TensorBoard logger, and the
re-whitening callback that whitened_linear layers need."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nndsl.run import train

SPEC = """
nndsl: 1
name: options
seed: 2
data: {source: digits, batch_size: 128, valid_fraction: 0.2}
network:
  layers:
    - {name: white, type: whitened_linear, units: 16, activation: tanh, every: 3, samples: 64}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
schedule:
  - {phase: joint, stop: {max_epochs: 2}}
trainer: {logger: tensorboard, limit_train_batches: 4,
          scheduler: {type: step, step_size: 1, gamma: 0.5}}
"""


@pytest.mark.slow
def test_tensorboard_scheduler_and_rewhitening(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    result = train(str(path), run_dir=str(tmp_path / "run"))
    assert list((result.directory / "logs" / "joint").glob("events.out.tfevents.*"))
    weights = torch.load(result.directory / "final_weights.pt")
    # Re-whitening replaced U = I by the inverse square root of the input covariance.
    whitening = weights["layers.white.whitening"]
    assert not torch.allclose(whitening, torch.eye(whitening.shape[0]))
    checkpoint = torch.load(result.directory / "checkpoints/joint/last.ckpt", weights_only=False)
    assert checkpoint["lr_schedulers"][0]["last_epoch"] == 2
    assert any("Rewhitening" in key for key in checkpoint["callbacks"])
