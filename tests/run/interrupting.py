"""Test helpers: interrupt a real training run with SIGINT at a chosen batch, and compare two runs.

`interrupt_at` makes the run stage's Trainer send the process a real SIGINT (what Ctrl-C sends) at
the start of training batch `batch` of epoch `epoch` of the run labelled `label`, so the run
meets the interrupt the way a user's Ctrl-C reaches it: in the middle of a batch.
`assert_same_run` demands bit-for-bit equality of two run directories' final weights, results
and metrics logs.
"""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


class SigintAt(Callback):
    """Sends SIGINT to this process once, when training batch `batch` of epoch `epoch` starts."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch, self.sent = epoch, batch, False

    def on_train_batch_start(self, trainer, module, batch, batch_index) -> None:
        if not self.sent and trainer.current_epoch == self.epoch and batch_index == self.batch:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


def interrupt_at(monkeypatch, label: str, epoch: int, batch: int) -> None:
    """Make the next `train` send SIGINT inside run `label` at (epoch, batch)."""
    from nndsl.run import session

    original = session.trainer_for

    def interrupting(context, run_label, stop, callbacks):
        extra = [SigintAt(epoch, batch)] if run_label == label else []
        return original(context, run_label, stop, [*callbacks, *extra])

    monkeypatch.setattr(session, "trainer_for", interrupting)


def positions(seed: int, count: int, epochs: int, batches: int,
              first_epoch: int = 0) -> list[tuple[int, int]]:
    """`count` distinct (epoch, batch) positions chosen at random (seeded) from epochs
    `first_epoch`..`epochs - 1`, none at epoch 0's start."""
    choices = [(epoch, batch) for epoch in range(first_epoch, epochs) for batch in range(batches)
               if (epoch, batch) != (0, 0)]
    return sorted(random.Random(seed).sample(choices, count))


def metrics_logs(directory: Path) -> dict[str, str]:
    return {str(path.relative_to(directory)): path.read_text()
            for path in sorted((directory / "logs").glob("**/metrics*.csv"))}


def assert_same_run(resumed: Path, reference: Path) -> None:
    """Final weights, the phase table, test metrics and every metrics.csv equal bit for bit."""
    mine = torch.load(resumed / "final_weights.pt", weights_only=True)
    theirs = torch.load(reference / "final_weights.pt", weights_only=True)
    assert mine.keys() == theirs.keys()
    different = [key for key in mine if not torch.equal(mine[key], theirs[key])]
    assert not different, f"weights differ: {different}"
    summary, expected = (json.loads((path / "summary.json").read_text())
                         for path in (resumed, reference))
    assert summary["phases"] == expected["phases"]
    assert summary["test"] == expected["test"]
    assert metrics_logs(resumed) == metrics_logs(reference)
