"""`metrics: [word_accuracy]` on a linked predictive net: a tiny run of the shipped spec logs
valid/ and test/word_accuracy, and the test figure is the one benchmarks/lpnn.py computes by
One-Stage DTW from the same saved weights."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from nndsl.run import train

ROOT = Path(__file__).resolve().parents[2]


def test_word_accuracy_is_logged_and_equals_the_benchmarks(tmp_path: Path):
    overrides = ["data.sentences=40", "data.words=8", "data.successors=3", "data.batch_size=8",
                 "trainer.max_epochs=2", "seed=2", "data.seed=2"]
    result = train(str(ROOT / "specs" / "lpnn_phones.yaml"), overrides,
                   run_dir=str(tmp_path / "run"), progress_bar=False)
    with open(result.directory / "logs" / "joint" / "metrics.csv") as handle:
        logged = [float(row["valid/word_accuracy"]) for row in csv.DictReader(handle)
                  if row.get("valid/word_accuracy")]
    assert len(logged) == 2
    tested = result.summary["test"]["test/word_accuracy"]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import lpnn
    finally:
        sys.path.pop(0)
    data = lpnn.setting(overrides)
    scorer = lpnn.saved_distances(overrides, result.directory / "final_weights.pt")
    accuracy, _, _ = lpnn.evaluate(scorer, data)
    assert tested == pytest.approx(accuracy, abs=1e-6)
