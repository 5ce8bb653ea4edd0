"""Linked predictive nets train end to end through nndsl: the shipped spec on a small synthetic
corpus, its DTW prediction loss falling from epoch to epoch, and its predictors then decoding
test sentences by One-Stage DTW better than chance."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from nndsl.run import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_lpnn_trains_and_its_predictors_decode_words(tmp_path: Path):
    overrides = ["data.sentences=100", "data.words=10", "data.successors=3", "data.batch_size=8",
                 "trainer.max_epochs=6", "seed=3", "data.seed=3"]
    result = train(str(ROOT / "specs" / "lpnn_phones.yaml"), overrides, run_dir=str(tmp_path / "run"),
                   progress_bar=False)
    with open(result.directory / "logs" / "joint" / "metrics.csv") as handle:
        losses = [float(row["valid/loss"]) for row in csv.DictReader(handle) if row["valid/loss"]]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import lpnn
    finally:
        sys.path.pop(0)
    data = lpnn.setting(overrides)
    scorer = lpnn.lpnn_distances("LPNN", overrides, data, tmp_path / "again")
    accuracy, own_best, _ = lpnn.evaluate(scorer, data)
    assert own_best > 0.2  # 10 phones: a random predictor wins about 1 frame in 10
    assert accuracy > 0.2
