"""`data: {standardize: true}` end to end through the CLI on a CSV table whose features lie on
wildly different scales (specs/wine_standardized.yaml): training reaches a good accuracy where the
same run without standardisation does not, the stored statistics are the training split's alone,
and `nndsl predict` / `nndsl export` apply them to raw inputs and name the classes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.data.registry import DATA_SOURCES
from nndsl.data.splits import split_indices

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "wine_standardized.yaml"
TABLE = ROOT / "specs" / "data" / "wine.csv"
SHORT = ["--set", "schedule.0.stop.max_epochs=12"]


@pytest.fixture(scope="module")
def standardized_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("wine") / "run"
    assert main(["train", str(SPEC), "--run-dir", str(run), *SHORT]) == 0
    return run


def _raw_splits():
    """The table as the source loads it (float32, unscaled) and the run's split indices."""
    compiled = compile_spec(str(SPEC), SHORT[1:]).raise_for_errors()
    data = compiled.spec.data
    arrays = DATA_SOURCES.get("csv").load(data.options, SPEC.parent, seed=compiled.spec.seed)
    seed = data.seed if data.seed is not None else compiled.spec.seed
    indices = split_indices(len(arrays), data.valid_fraction, data.test_fraction, seed)
    return arrays, indices


def test_standardised_run_learns_and_stores_training_split_statistics(standardized_run):
    summary = json.loads((standardized_run / "summary.json").read_text())
    assert summary["test"]["test/accuracy"] >= 0.9
    stored = json.loads((standardized_run / "feature_statistics.json").read_text())
    arrays, indices = _raw_splits()
    train = arrays.inputs[indices.train].astype(np.float64)
    assert stored["count"] == len(indices.train) and stored["shape"] == [13]
    np.testing.assert_allclose(stored["mean"], train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stored["std"], train.std(axis=0), rtol=1e-9)
    # Not the statistics of all rows, nor of the held-out rows.
    for held_out in (np.arange(len(arrays)), indices.valid, indices.test):
        other = arrays.inputs[held_out].astype(np.float64)
        assert not np.allclose(stored["mean"], other.mean(axis=0), rtol=1e-4)
    data = json.loads((standardized_run / "data.json").read_text())
    assert data["classes"] == ["class_0", "class_1", "class_2"]


def test_predict_and_export_take_raw_inputs(standardized_run, tmp_path):
    arrays, indices = _raw_splits()
    header = TABLE.read_text().splitlines()[0]
    lines = TABLE.read_text().splitlines()[1:]
    (tmp_path / "test.csv").write_text(
        "\n".join([header, *(lines[index] for index in indices.test)]) + "\n")
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(standardized_run), str(tmp_path / "test.csv"),
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    names = ("class_0", "class_1", "class_2")
    truth = [names[int(arrays.targets[index])] for index in indices.test]
    accuracy = np.mean([row["label"] == label for row, label in zip(rows, truth)])
    summary = json.loads((standardized_run / "summary.json").read_text())
    assert accuracy == pytest.approx(summary["test"]["test/accuracy"], abs=1e-6)
    # The exported module carries the statistics: raw rows in, the same labels out.
    assert main(["export", str(standardized_run), "--format", "pt2",
                 "--out", str(tmp_path / "model.pt2")]) == 0
    model = torch.export.load(str(tmp_path / "model.pt2")).module()
    raw = torch.from_numpy(arrays.inputs[indices.test])
    exported = [names[int(index)] for index in model(raw).argmax(-1)]
    assert exported == [row["label"] for row in rows]


def test_without_standardisation_the_same_run_learns_far_less(standardized_run, tmp_path):
    run = tmp_path / "raw"
    assert main(["train", str(SPEC), "--run-dir", str(run), *SHORT,
                 "--set", "data.standardize=false"]) == 0
    raw = json.loads((run / "summary.json").read_text())["test"]["test/accuracy"]
    scaled = json.loads((standardized_run / "summary.json").read_text())["test"]["test/accuracy"]
    assert not (run / "feature_statistics.json").exists()
    assert raw < scaled - 0.3


def test_predict_refuses_a_run_without_its_statistics(standardized_run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(standardized_run, copy)
    (copy / "feature_statistics.json").unlink()
    assert main(["predict", str(copy), str(TABLE)]) == 2
    error = capsys.readouterr().err
    assert "feature_statistics.json" in error and "Traceback" not in error


def test_show_says_the_inputs_are_standardised(capsys):
    assert main(["show", str(SPEC)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "standardised with training-split statistics" in shown
