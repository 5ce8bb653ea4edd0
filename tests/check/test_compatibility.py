"""Check stage: the loss/metric compatibility table, read before any tensor exists."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from nndsl.api import compile_spec
from nndsl.check.compatibility import LOSSES, METRICS
from nndsl.spec.training import LossType, MetricName

BASE = """nndsl: 1
name: t
data: {source: digits}
network:
  layers:
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""


def codes(text: str, overrides: list[str]) -> list[tuple[str, str]]:
    compiled = compile_spec("spec.yaml", overrides, text=text)
    return [(item.code, item.message) for item in compiled.diagnostics if item.severity == "error"]


def test_every_loss_and_metric_the_language_accepts_declares_where_it_fits():
    assert set(typing.get_args(LossType)) == set(LOSSES)
    assert set(typing.get_args(MetricName)) == set(METRICS)


def test_perplexity_on_classes_is_refused_at_validate():
    found = codes(BASE, ["metrics=[accuracy, perplexity]"])
    assert [code for code, _ in found] == ["E409"]
    assert "perplexity" in found[0][1]


@pytest.mark.parametrize("metric", ["oracle_accuracy", "mse", "cer"])
def test_metrics_a_classifier_run_never_logs_are_refused(metric):
    assert [code for code, _ in codes(BASE, [f"metrics=[{metric}]"])] == ["E409"]


def test_metrics_are_logged_on_the_validation_split_only():
    # No metric is computed on the training split: monitoring train/accuracy would never stop.
    spec = BASE + "metrics: [accuracy]\nschedule:\n  - {phase: joint, stop: {monitor: train/accuracy}}\n"
    assert [code for code, _ in codes(spec, [])] == ["E407"]


def test_ensemble_on_regression_refuses_classification_metrics_and_combine(tmp_path):
    np.savez(tmp_path / "d.npz", inputs=np.ones((20, 3), np.float32),
             targets=np.ones((20, 2), np.float32))
    text = BASE.replace("{source: digits}", "{source: npz, path: d.npz}").replace(
        "cross_entropy", "mse").replace("units: 10", "units: 2")
    text += "metrics: [mse]\nensemble: {members: 2, combine: vote}\n"
    compiled = compile_spec(tmp_path / "spec.yaml", [], text=text)
    found = sorted((item.code, item.message) for item in compiled.diagnostics)
    assert [code for code, _ in found] == ["E409", "E425"], found
    assert "ensemble" in found[0][1] and "combine" in found[1][1]


def test_an_ensemble_of_next_token_models_is_refused_before_training():
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "specs" / "lstm_language_model.yaml"
    compiled = compile_spec(spec, ["ensemble={members: 2}", "metrics=[]", "schedule=[{phase: joint}]"])
    found = [(item.code, item.message) for item in compiled.diagnostics if item.severity == "error"]
    assert [code for code, _ in found] == ["E408"] and "ensemble" in found[0][1]


def test_loss_options_the_loss_never_reads_are_refused():
    found = codes(BASE, ["loss.blank=3", "loss.label_smoothing=0.1"])
    assert [code for code, _ in found] == ["E425"]  # label_smoothing is cross_entropy's own
    assert "`loss.blank` would have no effect" in found[0][1]
    ensemble = BASE + "ensemble: {members: 2}\n"
    found = codes(ensemble, ["loss.label_smoothing=0.1"])
    assert [code for code, _ in found] == ["E425"] and "ensemble" in found[0][1]
