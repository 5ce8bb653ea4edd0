"""`hardware.lr_grid` at run time: every optimiser step uses, per parameter group, the grid's
rate nearest (log scale) to the group's planned or scheduled rate; the schedule itself goes on."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from nndsl.backend.hardware import snap_rates_to_grid
from nndsl.spec.hardware import nearest_rate

GRID = (0.001, 0.003, 0.01, 0.03, 0.1)


def test_nearest_rate_is_taken_on_a_log_scale():
    assert nearest_rate(0.03, GRID) == 0.03
    assert nearest_rate(0.005, GRID) == 0.003  # 0.005/0.003 = 1.67 < 0.01/0.005 = 2
    assert nearest_rate(0.006, GRID) == 0.01  # 0.006/0.003 = 2 > 0.01/0.006 = 1.67
    assert nearest_rate(0.02, GRID) == 0.03
    assert nearest_rate(1e-6, GRID) == 0.001 and nearest_rate(5.0, GRID) == 0.1  # limited
    assert nearest_rate(0.0, GRID) == 0.0  # no update stays no update


def test_each_step_moves_the_weights_by_a_rate_on_the_grid():
    first, second = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([{"params": [first], "lr": 0.02},
                                 {"params": [second], "lr": 0.0004}], lr=0.02)
    snap_rates_to_grid(optimizer, GRID)
    first.grad, second.grad = torch.ones(3), torch.ones(2)
    optimizer.step()
    # SGD moves by -rate · gradient: the rate applied is read off the weights themselves.
    assert torch.allclose(-first.detach(), torch.full((3,), 0.03))
    assert torch.allclose(-second.detach(), torch.full((2,), 0.001))
    assert [group["lr"] for group in optimizer.param_groups] == [0.02, 0.0004]  # as planned


class RecordAppliedRates(Callback):
    """The rate of each group at every step, as the optimiser applies it (read by a step hook
    registered after the grid's)."""

    def __init__(self) -> None:
        self.applied: list[tuple[int, list[float]]] = []

    def on_train_start(self, trainer, module) -> None:
        def record(optimizer, *arguments) -> None:
            self.applied.append((trainer.current_epoch,
                                 [group["lr"] for group in optimizer.param_groups]))

        trainer.optimizers[0].register_step_pre_hook(record)


SPEC = """
nndsl: 1
name: rate-grid
seed: 2
data: {source: engine_noise, samples: 120, taps: 5, batch_size: 1, online: true,
       valid_fraction: 0.1}
network:
  layers:
    - {name: hidden, type: linear, units: 3, activation: tanh}
    - {name: drive, type: linear, units: 1}
loss: {type: mse}
optimizer: {type: sgd, lr: 0.03,
            scheduler: {type: step, step_size: 1, gamma: 0.5}}
hardware: {lr_grid: [0.001, 0.003, 0.01, 0.03, 0.1]}
trainer: {max_epochs: 3}
"""


@pytest.mark.slow
def test_a_scheduled_decay_is_applied_on_the_grid(tmp_path, monkeypatch):
    from nndsl.run import session, train

    (tmp_path / "spec.yaml").write_text(SPEC)
    recorder = RecordAppliedRates()
    original = session.trainer_for
    monkeypatch.setattr(session, "trainer_for", lambda context, label, stop, callbacks: original(
        context, label, stop, [*callbacks, recorder]))
    train(str(tmp_path / "spec.yaml"), run_dir=str(tmp_path / "run"), progress_bar=False)
    by_epoch: dict[int, set[float]] = {}
    for epoch, rates in recorder.applied:
        by_epoch.setdefault(epoch, set()).update(rates)
    # Scheduled 0.03, 0.015, 0.0075: applied 0.03, then the grid's nearest, 0.01 and 0.01.
    assert by_epoch == {0: {0.03}, 1: {0.01}, 2: {0.01}}
    assert len(recorder.applied) == 3 * 108

