"""End-to-end training through the CLI and the run stage on tiny data (CPU)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from spec_texts import dense_spec

from nndsl.cli import main
from nndsl.run import train
from nndsl.run.schedule import Interrupted

ROOT = Path(__file__).resolve().parents[2]

TOP_DOWN_SPEC = dense_spec("tiny-top-down", 5, lr=0.05, schedule=(
    "{phase: joint, stop: {max_epochs: 3}}",
    "{phase: top_down, search: greedy, monitor: valid/loss, stop: {max_epochs: 2}}"),
    trainer="{max_epochs: 3, limit_train_batches: 3}")


@pytest.fixture()
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(TOP_DOWN_SPEC)
    return path


@pytest.mark.slow
def test_top_down_run_records_attempts_and_freezes_the_classifier(spec_file, tmp_path):
    result = train(str(spec_file), run_dir=str(tmp_path / "run"))
    rows = result.summary["phases"]
    assert rows[0]["phase"] == "joint"
    attempts = [row for row in rows if row["attempt"] is not None]
    assert attempts and attempts[0]["cut"] == "C3"  # the top cut first: softmax only above it
    for name in ("spec.yaml", "plan.json", "graph.json", "versions.json", "summary.json",
                 "progress.json"):
        assert (result.directory / name).exists(), name
    # Frozen classifier: in every attempt the output layer's weights equal the joint phase's.
    joint_state = torch.load(result.directory / "checkpoints/joint/state.pt")
    for row in attempts:
        attempt_state = torch.load(result.directory / "checkpoints" / row["run"] / "state.pt")
        assert torch.equal(attempt_state["layers.out.0.weight"], joint_state["layers.out.0.weight"])
        assert not torch.equal(attempt_state["layers.h1__linear.0.weight"],
                               joint_state["layers.h1__linear.0.weight"])
    assert set(result.summary["test"]) >= {"test/loss", "test/accuracy"}


class _InterruptAfter(Callback):
    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch + 1 == self.epochs:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the run stops after the next batch


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result(spec_file, tmp_path, monkeypatch):
    reference = train(str(spec_file), run_dir=str(tmp_path / "reference"))
    from nndsl.run import session

    original = session.trainer_for
    calls = {"count": 0}

    def interrupting(context, label, stop, callbacks):
        calls["count"] += 1
        extra = [_InterruptAfter(1)] if label.endswith("C3") else []
        return original(context, label, stop, [*callbacks, *extra])

    monkeypatch.setattr(session, "trainer_for", interrupting)
    with pytest.raises(Interrupted):
        train(str(spec_file), run_dir=str(tmp_path / "interrupted"))
    monkeypatch.setattr(session, "trainer_for", original)
    assert (tmp_path / "interrupted/checkpoints/top_down/1-C3/last.ckpt").exists()
    resumed = train(None, resume=str(tmp_path / "interrupted"))
    assert [row["run"] for row in resumed.summary["phases"]] == [
        row["run"] for row in reference.summary["phases"]
    ]
    assert resumed.summary["phases"][0]["best"] == pytest.approx(
        reference.summary["phases"][0]["best"]
    )


@pytest.mark.slow
def test_cli_train_quickstart_fast_dev_run(tmp_path, capsys):
    status = main(["train", str(ROOT / "specs/quickstart.yaml"), "--run-dir", str(tmp_path / "run"),
                   "--fast-dev-run"])
    assert status == 0
    assert "joint" in capsys.readouterr().out
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["name"] == "quickstart"


def test_cli_train_refuses_an_existing_run_directory(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run/file").write_text("x")
    status = main(["train", str(ROOT / "specs/quickstart.yaml"), "--run-dir",
                   str(tmp_path / "run")])
    assert status == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_train_invalid_spec_exits_2_without_traceback(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(TOP_DOWN_SPEC.replace("units: 10", "unitz: 10"))
    assert main(["train", str(path)]) == 2
    error = capsys.readouterr().err
    assert "E301" in error and "Traceback" not in error
