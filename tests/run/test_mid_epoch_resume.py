"""A run interrupted by Ctrl-C in mid-epoch resumes to the uninterrupted run, bit for bit (CPU).

Real runs (tiny: digits, a few batches per epoch) with dropout, Gaussian noise and shuffled
batches get a real SIGINT at batches chosen at random (seeded) — in a plain run, inside a top-down
attempt, in a bagging ensemble (bootstrap samples) and with a loader worker process — and are
resumed with `--resume`; final
weights, the phase table, test metrics and every metrics.csv must equal the uninterrupted run's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from interrupting import assert_same_run, interrupt_at, positions
from spec_texts import dense_spec

from nndsl.cli import main
from nndsl.run import train
from nndsl.run.schedule import Interrupted

PLAIN = dense_spec("mid-epoch", 5, lr=0.1, repeat=2, dropout=0.2, batch_size=32,
                   extra_layers=("{name: noise, type: gaussian_dropout, p: 0.2}",),
                   schedule=("{phase: joint, stop: {max_epochs: 3}}",),
                   trainer="{max_epochs: 3, limit_train_batches: 5}")
TOP_DOWN = PLAIN.replace("name: mid-epoch", "name: mid-epoch-top-down").replace(
    "  - {phase: joint, stop: {max_epochs: 3}}",
    "  - {phase: joint, stop: {max_epochs: 2}}\n"
    "  - {phase: top_down, search: full, monitor: valid/loss, stop: {max_epochs: 3}}")
WORKERS = PLAIN.replace("name: mid-epoch", "name: mid-epoch-workers").replace(
    "data: {source: digits,", "data: {source: digits, num_workers: 1,")
BAGGING = PLAIN.replace("name: mid-epoch", "name: mid-epoch-bagging").replace(
    "trainer:", "ensemble: {members: 2, method: bagging}\ntrainer:")


CLI_SPEC = PLAIN.replace("name: mid-epoch", "name: mid-epoch-cli").replace("max_epochs: 3",
                                                                           "max_epochs: 2")


def _reference(tmp_path_factory, text: str) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reference")
    (root / "spec.yaml").write_text(text)
    train(str(root / "spec.yaml"), run_dir=str(root / "run"), progress_bar=False)
    return root / "spec.yaml", root / "run"


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _reference(tmp_path_factory, PLAIN)


def _interrupt_and_resume(monkeypatch, spec: Path, directory: Path, label: str, epoch: int,
                          batch: int) -> None:
    with monkeypatch.context() as patch:
        interrupt_at(patch, label, epoch, batch)
        with pytest.raises(Interrupted):
            train(str(spec), run_dir=str(directory), progress_bar=False)
    assert not (directory / "summary.json").exists()
    train(None, resume=str(directory), progress_bar=False)


@pytest.mark.slow
@pytest.mark.parametrize("epoch,batch", positions(seed=14, count=3, epochs=3, batches=5))
def test_plain_run_interrupted_in_mid_epoch_resumes_bit_for_bit(plain, tmp_path, monkeypatch, epoch,
                                                                 batch):
    spec, reference = plain
    _interrupt_and_resume(monkeypatch, spec, tmp_path / "run", "joint", epoch, batch)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_a_run_with_a_loader_worker_process_resumes_bit_for_bit(tmp_path_factory, tmp_path,
                                                                 monkeypatch):
    spec, reference = _reference(tmp_path_factory, WORKERS)
    # In epoch 1: the resumed process then validates and trains another epoch, where a worker
    # seeded from torch's global generator would shift the dropout masks.
    (epoch, batch), = positions(seed=143, count=1, epochs=2, batches=5, first_epoch=1)
    _interrupt_and_resume(monkeypatch, spec, tmp_path / "run", "joint", epoch, batch)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_ctrl_c_in_the_last_batch_lets_the_run_finish_and_stops_after_it(plain, tmp_path,
                                                                          monkeypatch):
    spec, reference = plain
    with monkeypatch.context() as patch:
        interrupt_at(patch, "joint", 2, 4)  # the last epoch's last batch
        with pytest.raises(Interrupted):
            train(str(spec), run_dir=str(tmp_path / "run"), progress_bar=False)
    progress = json.loads((tmp_path / "run/progress.json").read_text())
    assert list(progress["runs"]) == ["joint"]  # recorded before stopping: the resume replays it
    assert not (tmp_path / "run/summary.json").exists()
    train(None, resume=str(tmp_path / "run"), progress_bar=False)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_a_run_killed_at_an_epoch_boundary_resumes_with_its_whole_log(plain, tmp_path, monkeypatch):
    """A kill (no Ctrl-C handling) leaves last.ckpt and metrics.csv as an epoch's end wrote them."""
    spec, reference = plain
    run, kept = tmp_path / "run", tmp_path / "at-kill"

    class KeepWhatAKillWouldLeave(Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 2:
                kept.mkdir()
                shutil.copy(run / "checkpoints/joint/last.ckpt", kept)
                shutil.copy(run / "logs/joint/metrics.csv", kept)

    from nndsl.run import session

    original = session.trainer_for
    with monkeypatch.context() as patch:
        patch.setattr(session, "trainer_for", lambda context, label, stop, callbacks: original(
            context, label, stop, [*callbacks, KeepWhatAKillWouldLeave()]))
        train(str(spec), run_dir=str(run), progress_bar=False)
    for name in ("progress.json", "summary.json", "final_weights.pt", "checkpoints/joint/state.pt"):
        (run / name).unlink()
    shutil.copy(kept / "last.ckpt", run / "checkpoints/joint")
    shutil.copy(kept / "metrics.csv", run / "logs/joint")
    rows = (run / "logs/joint/metrics.csv").read_text().splitlines()[1:]
    logged = [row.split(",")[0] for row in rows]
    assert logged == ["0", "0", "1", "1"]  # epochs 0 and 1 (valid and train rows); epoch 2 not yet
    train(None, resume=str(run), progress_bar=False)
    assert_same_run(run, reference)


@pytest.mark.slow
def test_the_checkpoint_records_the_batch_after_which_ctrl_c_stopped(plain, tmp_path, monkeypatch):
    spec, _ = plain
    with monkeypatch.context() as patch:
        interrupt_at(patch, "joint", 1, 2)
        with pytest.raises(Interrupted):
            train(str(spec), run_dir=str(tmp_path / "run"), progress_bar=False)
    checkpoint = torch.load(tmp_path / "run/checkpoints/joint/last.ckpt", weights_only=True)
    progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]
    assert (checkpoint["epoch"], progress["processed"]) == (1, 3)  # batch 2 of epoch 1 finished
    assert checkpoint["global_step"] == 5 + 3
    loader = checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    assert loader["_num_yielded"] == 3  # the loader's position: the next batch is the 4th


@pytest.mark.slow
def test_top_down_attempt_interrupted_in_mid_epoch_resumes_bit_for_bit(tmp_path_factory, tmp_path,
                                                                        monkeypatch):
    spec, reference = _reference(tmp_path_factory, TOP_DOWN)
    runs = [row["run"] for row in json.loads((reference / "summary.json").read_text())["phases"]]
    assert len(runs) >= 3 and runs[2].startswith("top_down/2-")  # interrupt the second attempt
    (epoch, batch), = positions(seed=141, count=1, epochs=3, batches=5)
    _interrupt_and_resume(monkeypatch, spec, tmp_path / "run", runs[2], epoch, batch)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_bagging_ensemble_interrupted_in_mid_epoch_resumes_bit_for_bit(tmp_path_factory, tmp_path,
                                                                        monkeypatch):
    spec, reference = _reference(tmp_path_factory, BAGGING)
    (epoch, batch), = positions(seed=142, count=1, epochs=3, batches=5)
    _interrupt_and_resume(monkeypatch, spec, tmp_path / "run", "joint", epoch, batch)
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_ctrl_c_then_resume_from_another_directory_without_the_spec(tmp_path, capsys, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "work/spec.yaml").write_text(CLI_SPEC)
    monkeypatch.chdir(tmp_path / "work")
    with monkeypatch.context() as patch:
        interrupt_at(patch, "joint", 1, 1)
        assert main(["train", "spec.yaml", "--run-dir", "run", "--set", "optimizer.lr=0.2"]) == 130
    assert "continue with `nndsl train --resume run`" in " ".join(capsys.readouterr().err.split())
    monkeypatch.chdir(tmp_path)  # elsewhere: the run's spec path was relative to work/
    assert main(["train", "--resume", "work/run"]) == 0
    summary = json.loads((tmp_path / "work/run/summary.json").read_text())
    assert summary["resumed"] and summary["phases"][0]["epochs"] == 2
    # The same spec named from here, with the same override, is accepted too.
    assert main(["train", "work/spec.yaml", "--set", "optimizer.lr=0.2", "--resume",
                 "work/run"]) == 0
