"""Ensembles with a memory budget measure their saved-activation peak per phase: each member's
step (comparable with the plan's one-network prediction, which the budgeted members meet to the
byte) and the whole ensemble's, in summary.json and the results table. The measuring pass runs
on copies: training ends with the same weights as a run without it."""

from __future__ import annotations

import json

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.run import schedule

SPEC = """
nndsl: 1
name: ensemble-memory
seed: 3
data: {source: digits, batch_size: 64, valid_fraction: 0.2, test_fraction: 0.2}
network:
  layers:
    - {name: wide1, type: linear, units: 256, activation: relu}
    - {name: drop1, type: dropout, p: 0.2}
    - {name: narrow1, type: linear, units: 16, activation: tanh}
    - {name: wide2, type: linear, units: 256, activation: relu}
    - {name: narrow2, type: linear, units: 16, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: adam, lr: 0.001}
memory: {budget: 50%, policy: optimal}
ensemble: {members: 3, method: smcl, k: 1}
trainer: {max_epochs: 1, limit_train_batches: 3}
"""


@pytest.mark.slow
def test_ensemble_peak_is_measured_per_member_and_whole(tmp_path, capsys, monkeypatch):
    (tmp_path / "spec.yaml").write_text(SPEC)
    compiled = compile_spec(str(tmp_path / "spec.yaml")).raise_for_errors()
    assert not compiled.plan.ensemble.vectorised  # checkpointing cannot run under vmap
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 0
    row = json.loads((tmp_path / "run/summary.json").read_text())["phases"][0]
    # One chain per member: the budgeted member keeps what the plan predicts, to the byte, about
    # half of plain backprop's; three members together keep more than one, less than three plain.
    assert row["activation_peak_bytes"] == row["planned_peak_bytes"]
    assert row["activation_peak_bytes"] <= 0.5 * row["plain_peak_bytes"]
    assert 2 * row["activation_peak_bytes"] < row["ensemble_peak_bytes"] \
        < 3 * row["plain_peak_bytes"]
    assert "every training step" in row["activation_peak_measured"]
    # The pass that measures vmapped ensembles gives the training steps' figure here.
    from nndsl.backend.callbacks.ensemble_peak import EnsembleActivationPeak
    from nndsl.run.trained import open_trained_run

    network = open_trained_run(tmp_path / "run").network.train()
    meter = EnsembleActivationPeak(network, None, bagged=False)
    batch = [torch.rand(64, 64)] * 3
    assert meter._measure(network.members, [0, 1, 2], batch) == row["ensemble_peak_bytes"]
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")  # the table's cells unwrapped
    assert main(["report", str(tmp_path / "run")]) == 0
    assert f"all members {row['ensemble_peak_bytes'] / 2**20:.2f}" in capsys.readouterr().out
    # The same run without the measuring pass ends with the same weights (dropout included).
    monkeypatch.setattr(schedule, "activation_peak", lambda context: None)
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "plain")]) == 0
    measured = torch.load(tmp_path / "run/final_weights.pt")
    unmeasured = torch.load(tmp_path / "plain/final_weights.pt")
    assert measured.keys() == unmeasured.keys()
    assert all(torch.equal(measured[key], unmeasured[key]) for key in measured)


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_peaks_and_weights(tmp_path, monkeypatch):
    from interrupting import assert_same_run, interrupt_at

    from nndsl.run import train
    from nndsl.run.schedule import Interrupted

    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("max_epochs: 1", "max_epochs: 2"))
    train(str(spec), run_dir=str(tmp_path / "whole"), progress_bar=False)
    interrupt_at(monkeypatch, "joint", epoch=1, batch=1)
    with pytest.raises(Interrupted):
        train(str(spec), run_dir=str(tmp_path / "resumed"), progress_bar=False)
    monkeypatch.undo()
    train(None, resume=str(tmp_path / "resumed"), progress_bar=False)
    assert_same_run(tmp_path / "resumed", tmp_path / "whole")  # summary rows: peaks included


@pytest.mark.slow
def test_a_peak_that_cannot_be_measured_says_so(tmp_path, capsys, monkeypatch):
    """On a torch without the hook lookup the meter needs, the row says `not measured` and why,
    beside the plan's figures, instead of leaving the column blank."""
    from nndsl.backend.callbacks import activation_peak

    monkeypatch.setattr(activation_peak, "counts_recomputation", lambda: False)
    (tmp_path / "spec.yaml").write_text(SPEC.replace(
        "ensemble: {members: 3, method: smcl, k: 1}\n", ""))
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 0
    row = json.loads((tmp_path / "run/summary.json").read_text())["phases"][0]
    assert "activation_peak_bytes" not in row and row["planned_peak_bytes"] > 0
    assert row["activation_peak_measured"].startswith("not measured: this torch lacks")
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["report", str(tmp_path / "run")]) == 0
    assert f"not measured / {row['planned_peak_bytes'] / 2**20:.2f}" in capsys.readouterr().out
