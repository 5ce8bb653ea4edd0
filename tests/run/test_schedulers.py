"""Learning-rate schedules: warmup composed with cosine / step / constant, one-cycle, per phase;
the rate Lightning's LearningRateMonitor logs follows the schedule's closed form."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from nndsl.backend.optimizers import build_scheduler
from nndsl.cli import main
from nndsl.spec.training import SchedulerSpec

SPEC = """
nndsl: 1
name: schedules
seed: 1
data: {source: digits, batch_size: 128}
network:
  layers:
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1, scheduler: {type: cosine, warmup: 2}}
schedule:
  - {phase: joint, stop: {max_epochs: 6}}
  - {phase: joint, name: cycle, stop: {max_epochs: 2},
     optimizer: {type: sgd, lr: 0.2, scheduler: {type: one_cycle}}}
trainer: {max_epochs: 6, limit_train_batches: 4, log_every_n_steps: 1}
"""


def _rates(settings: dict, steps: int, lr: float = 1.0, total: int = 10) -> list[float]:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=lr)
    scheduler = build_scheduler(
        SchedulerSpec(**settings), optimizer, max_epochs=total, total_steps=lambda: total
    )["scheduler"]
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_then_step_and_constant():
    rates = _rates(
        {"type": "step", "warmup": 4, "warmup_start": 0.2, "step_size": 2, "gamma": 0.5}, 9
    )
    assert rates[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])  # linear from 0.2 to 1 over 4
    assert rates[4:] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    assert _rates({"type": "constant", "warmup": 2, "warmup_start": 0.5}, 5) == pytest.approx(
        [0.5, 0.75, 1, 1, 1]
    )


def test_cosine_after_warmup_spans_the_rest():
    rates = _rates({"type": "cosine", "warmup": 2}, 10, total=10)
    expected = [(1 + math.cos(math.pi * step / 8)) / 2 for step in range(8)]
    assert rates[2:] == pytest.approx(expected)


def test_one_cycle_rises_to_the_rate_and_falls():
    rates = _rates({"type": "one_cycle", "pct_start": 0.5}, 10, lr=0.3, total=10)
    assert rates[0] == pytest.approx(0.3 / 25)
    assert max(rates) == pytest.approx(0.3, rel=1e-3)
    assert rates.index(max(rates)) == 4  # the peak at pct_start of the steps
    assert rates[-1] == pytest.approx(0.3 / 25 / 1e4, rel=1e-3)


def _logged(path: Path) -> list[tuple[int, float]]:
    rows = list(csv.DictReader(path.open()))
    column = next(name for name in rows[0] if name.startswith("lr"))
    return [(int(row["step"]), float(row[column])) for row in rows if row[column]]


@pytest.mark.slow
def test_logged_rate_follows_each_phase_schedule(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 0
    joint = _logged(tmp_path / "run/logs/joint-1/metrics.csv")
    # Per epoch (4 steps each): warmup 0.001 -> 0.0505, then a cosine over the 4 epochs left.
    cosine = [0.05 * (1 + math.cos(math.pi * epoch / 4)) for epoch in range(4)]
    assert [step for step, _ in joint] == [0, 4, 8, 12, 16, 20]
    assert [rate for _, rate in joint] == pytest.approx([0.001, 0.0505, *cosine])
    cycle = _logged(tmp_path / "run/logs/cycle/metrics.csv")
    assert len(cycle) == 8  # per step: 2 epochs of 4 batches
    assert cycle[0][1] == pytest.approx(0.2 / 25) and cycle[-1][1] == pytest.approx(0.2 / 25 / 1e4)
    assert max(rate for _, rate in cycle) > 0.19
