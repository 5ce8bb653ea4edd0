"""F1, top-k accuracy, the confusion matrix and regression metrics, trained through the CLI on
tiny data (digits; a generated regression CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nndsl.cli import main

CLASS_SPEC = """
nndsl: 1
name: metrics-digits
seed: 3
data: {source: digits, batch_size: 128, valid_fraction: 0.2, test_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 32, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy, f1_macro, f1_micro, top3_accuracy, confusion_matrix]
optimizer: {type: sgd, lr: 0.1, momentum: 0.9}
trainer: {max_epochs: 2, limit_train_batches: 4}
"""

REGRESSION_SPEC = """
nndsl: 1
name: metrics-regression
seed: 3
data: {source: csv, path: table.csv, target: y, task: regression, batch_size: 32,
       valid_fraction: 0.2, test_fraction: 0.25}
network:
  layers:
    - {name: out, type: linear, units: 1}
loss: {type: mse}
metrics: [mse, mae, r2]
optimizer: {type: sgd, lr: 0.05}
trainer: {max_epochs: 15}
"""


def _train(tmp_path: Path, text: str) -> dict:
    (tmp_path / "spec.yaml").write_text(text)
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 0
    return json.loads((tmp_path / "run" / "summary.json").read_text())


@pytest.mark.slow
def test_class_metrics_and_confusion_matrix(tmp_path):
    test = _train(tmp_path, CLASS_SPEC)["test"]
    matrix = json.loads((tmp_path / "run" / "confusion_matrix.json").read_text())
    assert (tmp_path / "run" / "confusion_matrix.png").stat().st_size > 1000
    counts = matrix["counts"]
    assert matrix["classes"] == [str(digit) for digit in range(10)]
    total = sum(map(sum, counts))
    assert total == round(1797 * 0.2) or abs(total - 1797 * 0.2) < 2  # the test split, each once
    # The matrix and the logged accuracy describe the same predictions.
    assert sum(counts[index][index] for index in range(10)) / total == pytest.approx(
        test["test/accuracy"]
    )
    assert test["test/f1_micro"] == pytest.approx(
        test["test/accuracy"]
    )  # single-label: micro F1 = accuracy
    recalls = [counts[row][row] / max(1, sum(counts[row])) for row in range(10)]
    precisions = [
        counts[col][col] / max(1, sum(counts[row][col] for row in range(10))) for col in range(10)
    ]
    f1s = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precisions, recalls)]
    assert test["test/f1_macro"] == pytest.approx(sum(f1s) / 10, abs=1e-4)
    assert test["test/accuracy"] <= test["test/top3_accuracy"] <= 1.0
    assert "test/confusion_matrix" not in test


@pytest.mark.slow
def test_regression_metrics(tmp_path):
    import numpy as np

    generator = np.random.default_rng(0)
    features = generator.normal(size=(200, 3))
    target = features @ np.array([1.5, -2.0, 0.5]) + 0.1 * generator.normal(size=200)
    rows = [
        "a,b,c,y",
        *(",".join(f"{value:.5f}" for value in (*row, y)) for row, y in zip(features, target)),
    ]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    test = _train(tmp_path, REGRESSION_SPEC)["test"]
    assert test["test/mae"] ** 2 <= test["test/mse"] + 1e-6  # mean |e| squared <= mean e^2
    assert 0.8 < test["test/r2"] <= 1.0  # a linear target, learnt by a linear layer
    # Prediction reads the training columns by name, whatever their order in the new file.
    (tmp_path / "new.csv").write_text("c,b,a\n0,0,1\n1,0,0\n")
    assert (
        main(
            [
                "predict",
                str(tmp_path / "run"),
                str(tmp_path / "new.csv"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    values = [
        float(line.split(",")[1]) for line in (tmp_path / "p.csv").read_text().splitlines()[1:]
    ]
    assert values == pytest.approx([1.5, 0.5], abs=0.3)


@pytest.mark.parametrize(
    ("metric", "code"), [("mae", "E409"), ("top5_accuracy", None), ("r2", "E409")]
)
def test_metrics_checked_against_the_targets(tmp_path, capsys, metric, code):
    spec = CLASS_SPEC.replace(
        "[accuracy, f1_macro, f1_micro, top3_accuracy, confusion_matrix]", f"[{metric}]"
    )
    (tmp_path / "spec.yaml").write_text(spec)
    status = main(["validate", str(tmp_path / "spec.yaml")])
    assert status == (0 if code is None else 2)
    if code:
        captured = capsys.readouterr()
        assert code in captured.out + captured.err
