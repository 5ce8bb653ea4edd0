"""`nndsl predict` and `nndsl export` on trained digits runs (a single network and an ensemble):
predictions of the run's own test split reproduce its test accuracy, exported modules reproduce
the predictions, and bad run directories or input files are one-line errors (exit 2)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.run.train import load_data

SPEC = """
nndsl: 1
name: predict-digits
seed: 3
data: {source: digits, batch_size: 128, valid_fraction: 0.2, test_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 32, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.1, momentum: 0.9}
trainer: {max_epochs: 2, limit_train_batches: 4}
"""
ENSEMBLE = SPEC.replace(
    "metrics: [accuracy]",
    "metrics: [accuracy]\nensemble: {members: 3, method: smcl, k: 1, combine: mean}",
)


def _trained(directory: Path, text: str) -> tuple[Path, dict, np.ndarray, np.ndarray]:
    directory.mkdir()
    (directory / "spec.yaml").write_text(text)
    run = directory / "run"
    assert main(["train", str(directory / "spec.yaml"), "--run-dir", str(run)]) == 0
    # The run's own test split, as the data module cuts it.
    datamodule = load_data(compile_spec(str(directory / "spec.yaml"), []).raise_for_errors())
    datamodule.setup("test")
    batches = list(datamodule.test_dataloader())
    inputs = torch.cat([batch["inputs"] for batch in batches]).numpy()
    targets = torch.cat([batch["targets"] for batch in batches]).numpy()
    np.savez(directory / "test.npz", inputs=inputs, targets=targets)
    return run, json.loads((run / "summary.json").read_text())["test"], inputs, targets


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return _trained(tmp_path_factory.mktemp("predict") / "single", SPEC)


@pytest.mark.slow
def test_predict_reproduces_the_test_accuracy_csv_and_json(single, tmp_path):
    run, test, inputs, targets = single
    assert (
        main(["predict", str(run), str(run.parent / "test.npz"), "--out", str(tmp_path / "p.csv")])
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == len(targets)
    accuracy = np.mean([row["label"] == str(target) for row, target in zip(rows, targets)])
    assert accuracy == pytest.approx(test["test/accuracy"], abs=1e-6)
    assert sum(float(rows[0][f"p_{digit}"]) for digit in range(10)) == pytest.approx(1, abs=1e-4)
    # The same inputs as a CSV file (every column a feature) and JSON output agree.
    names = json.loads((run / "data.json").read_text())["features"]  # pixel_0_0 ...
    lines = [",".join(reversed(names)), *(",".join(map(str, reversed(row))) for row in inputs)]
    (tmp_path / "test.csv").write_text("\n".join(lines) + "\n")
    assert (
        main(["predict", str(run), str(tmp_path / "test.csv"), "--out", str(tmp_path / "p.json")])
        == 0
    )
    table = json.loads((tmp_path / "p.json").read_text())
    assert table["labels"] == [row["label"] for row in rows] and table["classes"][3] == "3"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["torchscript", "pt2"])
def test_export_reproduces_the_test_predictions(single, tmp_path, kind):
    run, test, inputs, targets = single
    out = tmp_path / f"model.{kind}"
    assert main(["export", str(run), "--format", kind, "--out", str(out)]) == 0
    module = (
        torch.jit.load(str(out)) if kind == "torchscript" else torch.export.load(str(out)).module()
    )
    with torch.no_grad():
        outputs = module(torch.from_numpy(inputs))
    accuracy = (outputs.argmax(-1).numpy() == targets).mean()
    assert accuracy == pytest.approx(test["test/accuracy"], abs=1e-6)
    with torch.no_grad():
        smaller = module(torch.from_numpy(inputs[:5]))  # the batch size is free
    assert torch.allclose(smaller, outputs[:5], atol=1e-5)


@pytest.mark.slow
def test_onnx_export_needs_its_packages(single, tmp_path, capsys):
    run = single[0]
    status = main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        assert status == 2 and "pip install" in capsys.readouterr().err
        return
    assert status == 0
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(model)
    inputs, targets, test = single[2], single[3], single[1]
    outputs = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: inputs})[0]
    assert (outputs.argmax(-1) == targets).mean() == pytest.approx(test["test/accuracy"], abs=1e-6)


@pytest.mark.slow
def test_ensemble_predicts_and_exports_as_one_module(tmp_path):
    run, test, inputs, targets = _trained(tmp_path / "ensemble", ENSEMBLE)
    assert (
        main(["predict", str(run), str(run.parent / "test.npz"), "--out", str(tmp_path / "p.json")])
        == 0
    )
    table = json.loads((tmp_path / "p.json").read_text())
    assert len(table["member_labels"]) == 3 and len(table["member_probabilities"][0]) == len(
        targets
    )
    accuracy = np.mean([label == str(target) for label, target in zip(table["labels"], targets)])
    assert accuracy == pytest.approx(test["test/accuracy"], abs=1e-6)  # mean-combined, as scored
    assert (
        main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "m.ts")]) == 0
    )
    with torch.no_grad():
        members = torch.jit.load(str(tmp_path / "m.ts"))(torch.from_numpy(inputs))
    assert members.shape == (3, len(targets), 10)
    assert np.allclose(
        members.softmax(-1).mean(0).numpy(), np.array(table["probabilities"]), atol=1e-5
    )


@pytest.mark.slow
def test_bad_inputs_are_one_line_errors(single, tmp_path, capsys):
    run = single[0]
    np.savez(tmp_path / "wide.npz", inputs=np.zeros((3, 65), dtype=np.float32))
    (tmp_path / "x.txt").write_text("1,2\n")
    names = json.loads((run / "data.json").read_text())["features"]
    (tmp_path / "nan.csv").write_text(",".join(names) + "\n" + ",".join(["x"] * 64) + "\n")
    (tmp_path / "columns.csv").write_text("a,b\n1,2\n")
    for arguments, words in (
        (["predict", str(tmp_path), str(run.parent / "test.npz")], "not an nndsl run"),
        (["predict", str(run), str(tmp_path / "wide.npz")], "shape (65,)"),
        (["predict", str(run), str(tmp_path / "x.txt")], ".csv or .npz"),
        (["predict", str(run), str(tmp_path / "nan.csv")], "line 2"),
        (["predict", str(run), str(tmp_path / "gone.npz")], "does not exist"),
        (["predict", str(run), str(tmp_path / "columns.csv")], "and 59 more"),
        (["export", str(tmp_path)], "not an nndsl run"),
    ):
        assert main(arguments) == 2
        error = capsys.readouterr().err
        assert words in error and "Traceback" not in error


def test_unfinished_run_is_refused(tmp_path, capsys):
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "spec.yaml").write_text("nndsl: 1\n")
    assert main(["predict", str(tmp_path), "x.npz"]) == 2
    assert "final_weights.pt" in capsys.readouterr().err


def test_spec_found_from_another_folder(tmp_path, monkeypatch):
    from nndsl.run.trained import original_spec_path

    (tmp_path / "work" / "runs" / "a").mkdir(parents=True)
    (tmp_path / "work" / "spec.yaml").write_text("nndsl: 1\n")
    monkeypatch.chdir(tmp_path)  # not where training ran
    run = tmp_path / "work" / "runs" / "a"
    assert original_spec_path(run, "spec.yaml") == tmp_path / "work" / "spec.yaml"
    assert original_spec_path(run, "gone.yaml") == run / "spec.yaml"
