"""Resuming a top-down run across attempts and phase boundaries gives the uninterrupted result.

One reference run (CPU, fixed seed) against runs interrupted (a) in the middle of a later
attempt — a run resumed from its `last.ckpt` after one of its epochs — and (b) between phases,
before the first attempt starts. The spec has dropout and shuffled batches, so equality needs the
random state and the shuffling order carried through the checkpoint.
"""

from __future__ import annotations

import os
import signal

from pathlib import Path

import pytest
from lightning.pytorch.callbacks import Callback
from spec_texts import dense_spec

from nndsl.run import train
from nndsl.run.schedule import Interrupted

SPEC = dense_spec("resume-top-down", 11, lr=0.1, dropout=0.1, batch_size=64, schedule=(
    "{phase: joint, stop: {max_epochs: 2}}",
    "{phase: top_down, search: greedy, monitor: valid/loss, stop: {max_epochs: 2}}",
    "{phase: retrain_classifier, stop: {max_epochs: 2}}"),
    trainer="{max_epochs: 2, limit_train_batches: 3}")


class _InterruptAfter(Callback):
    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch + 1 == self.epochs:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the run stops after the next batch


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory):
    directory = tmp_path_factory.mktemp("reference") / "run"
    return train(str(spec_file), run_dir=str(directory), progress_bar=False).summary


def _decisions(summary):
    return [(row["run"], row["cut"], row["attempt"], row["epochs"], row["accepted"], row["best"],
             row["baseline"]) for row in summary["phases"]]


def _assert_same(resumed, reference):
    assert _decisions(resumed) == _decisions(reference)
    assert resumed["test"] == reference["test"]
    for mine, theirs in zip(resumed["phases"], reference["phases"]):
        assert mine["parameter_change"] == pytest.approx(theirs["parameter_change"], rel=1e-9)


@pytest.mark.slow
def test_interrupting_a_later_attempt_resumes_to_the_same_result(
    spec_file, reference, tmp_path, monkeypatch
):
    from nndsl.run import session

    original = session.trainer_for

    def interrupting(context, label, stop, callbacks):
        extra = [_InterruptAfter(1)] if label == "top_down/2-C2" else []
        return original(context, label, stop, [*callbacks, *extra])

    monkeypatch.setattr(session, "trainer_for", interrupting)
    with pytest.raises(Interrupted):
        train(str(spec_file), run_dir=str(tmp_path / "run"), progress_bar=False)
    monkeypatch.setattr(session, "trainer_for", original)
    assert (tmp_path / "run/checkpoints/top_down/2-C2/last.ckpt").exists()
    assert not (tmp_path / "run/checkpoints/top_down/2-C2/state.pt").exists()
    resumed = train(None, resume=str(tmp_path / "run"), progress_bar=False).summary
    _assert_same(resumed, reference)
    # The interrupted attempt's log keeps the epoch logged before the interruption.
    log = (tmp_path / "run/logs/top_down/2-C2/metrics.csv").read_text()
    assert [line.split(",")[0] for line in log.splitlines()[1:]] == ["0", "0", "1", "1"]


@pytest.mark.slow
def test_interrupting_between_phases_resumes_to_the_same_result(spec_file, reference, tmp_path):
    def interrupt_before_top_down(phase, label, cut, attempt):
        if label == "top_down/1-C3":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(str(spec_file), run_dir=str(tmp_path / "run"), printer=interrupt_before_top_down,
              progress_bar=False)
    assert (tmp_path / "run/checkpoints/joint/state.pt").exists()
    assert not (tmp_path / "run/checkpoints/top_down").exists()
    resumed = train(None, resume=str(tmp_path / "run"), progress_bar=False).summary
    _assert_same(resumed, reference)
