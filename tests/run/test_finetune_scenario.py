"""A researcher's day through the command line: train on digits, fine-tune from that run (its
extractor's weights, a fresh classifier, gradual unfreezing with a warmup in every stage), predict
a CSV file and export to ONNX; and the fine-tuning, interrupted as its second stage starts and
resumed, ends bit for bit where the uninterrupted one did."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from interrupting import assert_same_run  # tests/run is on sys.path, as for the other resume tests
from spec_texts import dense_spec

from nndsl.cli import main
from nndsl.run import train
from nndsl.run.safe_load import read_state_dict

FINETUNED_NETWORK = {"repeat": 2, "unit_names": "hidden{index}", "units": 32, "batch_size": 64,
                     "held_out": 0.15}
BASE = dense_spec("base", 3, lr=0.1, cuts=False, trainer="{max_epochs: 2}", **FINETUNED_NETWORK)
FINETUNE = dense_spec(
    "finetune", 5, lr=0.1, scheduler="{type: cosine, warmup: 4, interval: step}",
    schedule=("{phase: gradual_unfreeze, name: thaw, epochs: [1, 1, 2], "
              "lr_multipliers: [1, 0.5, 0.25]}",),
    trainer="{max_epochs: 2, log_every_n_steps: 1}",
    extra="init_from: {path: runs/base, select: [extractor:C2]}\n", **FINETUNED_NETWORK)
EXTRACTOR = [f"layers.hidden{unit}__linear.0.{tensor}" for unit in (1, 2)
             for tensor in ("weight", "bias")]


def _rates(run, phase: str) -> list[float]:
    with (run / "logs" / phase / "metrics.csv").open() as handle:
        return [float(row["lr/rate×1"]) for row in csv.DictReader(handle) if row["lr/rate×1"]]


@pytest.mark.slow
def test_train_finetune_predict_export_and_resume(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "finetune.yaml").write_text(FINETUNE)
    base, finetuned = tmp_path / "runs" / "base", tmp_path / "runs" / "finetune"
    assert main(["train", str(tmp_path / "base.yaml"), "--run-dir", str(base)]) == 0
    capsys.readouterr()
    assert main(["show", str(tmp_path / "finetune.yaml")]) == 0
    shown = capsys.readouterr().out
    assert "init_from runs/base" in shown and "gradual unfreezing" in shown and "thaw-3" in shown

    assert main(["train", str(tmp_path / "finetune.yaml"), "--run-dir", str(finetuned)]) == 0
    summary = json.loads((finetuned / "summary.json").read_text())
    assert [row["phase"] for row in summary["phases"]] == ["thaw-1", "thaw-2", "thaw-3"]
    assert summary["test"]["test/accuracy"] > 0.5  # ten classes: chance is 0.1
    plan = json.loads((finetuned / "plan.json").read_text())
    assert [layer["layer"] for layer in plan["init"]["layers"]] == ["hidden1.linear",
                                                                    "hidden2.linear"]
    # Stage 1 trains the fresh classifier on the loaded extractor, which stays as it was loaded;
    # stage 2 moves hidden2 too, never hidden1.
    loaded = read_state_dict(base / "final_weights.pt")
    first = read_state_dict(finetuned / "checkpoints" / "thaw-1" / "state.pt")
    second = read_state_dict(finetuned / "checkpoints" / "thaw-2" / "state.pt")
    assert all(torch.equal(first[key], loaded[key]) for key in EXTRACTOR)
    assert all(torch.equal(second[key], loaded[key]) for key in EXTRACTOR[:2])
    assert not torch.equal(second[EXTRACTOR[2]], loaded[EXTRACTOR[2]])
    # Every stage warms up from 1% of its rate; stage 2 runs at half stage 1's rate.
    rates = [_rates(finetuned, f"thaw-{stage}") for stage in (1, 2)]
    assert rates[0][0] == pytest.approx(0.1 * 0.01) and rates[0][4] == pytest.approx(0.1, rel=0.05)
    assert rates[1][:10] == pytest.approx([rate * 0.5 for rate in rates[0][:10]])

    # Predict a CSV file of digits (the run's feature columns) ...
    from sklearn.datasets import load_digits

    digits = load_digits()
    features = json.loads((finetuned / "data.json").read_text())["features"]
    inputs = (digits.data[:300] / 16).astype(np.float32)
    with (tmp_path / "digits.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(features)
        writer.writerows(inputs.tolist())
    predicted = tmp_path / "predictions.csv"
    assert main(["predict", str(finetuned), str(tmp_path / "digits.csv"), "--out",
                 str(predicted)]) == 0
    rows = list(csv.DictReader(predicted.open()))
    assert len(rows) == 300
    labels = np.array([int(row["label"]) for row in rows])
    assert (labels == digits.target[:300]).mean() > 0.5
    # ... and export to ONNX: the exported model gives the same predictions.
    exported = tmp_path / "model.onnx"
    status = main(["export", str(finetuned), "--format", "onnx", "--out", str(exported)])
    try:
        import onnx
        from onnx.reference import ReferenceEvaluator
    except ImportError:  # the optional `onnx` extra is not installed: said, not a traceback
        assert status == 2 and "pip install" in capsys.readouterr().err
    else:
        assert status == 0
        model = onnx.load(str(exported))
        outputs = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: inputs})[0]
        assert (outputs.argmax(-1) == labels).all()
        probabilities = torch.softmax(torch.from_numpy(outputs), -1).numpy()
        assert np.allclose(probabilities[:, 3], [float(row["p_3"]) for row in rows], atol=1e-4)

    # Interrupted as its second stage starts and resumed, fine-tuning ends where it did above:
    # the first stage is taken from the record, the loaded weights and all.
    def stop_at_second_stage(phase, label, cut, attempt):
        if label == "thaw-2":
            raise KeyboardInterrupt

    interrupted = tmp_path / "runs" / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(str(tmp_path / "finetune.yaml"), run_dir=str(interrupted),
              printer=stop_at_second_stage, progress_bar=False)
    assert (interrupted / "checkpoints" / "thaw-1" / "state.pt").exists()
    assert not (interrupted / "checkpoints" / "thaw-2").exists()
    assert main(["train", "--resume", str(interrupted)]) == 0
    assert_same_run(interrupted, finetuned)
