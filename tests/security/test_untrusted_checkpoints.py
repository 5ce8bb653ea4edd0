"""Checkpoints handed to nndsl never run code: every load goes through `nndsl.run.safe_load`.

A hostile pickle (one whose unpickling calls `exec`), a truncated file or something that is not a
checkpoint is refused with the file named and the reason, exit status 2 and no traceback — at
validation (`classifier_from`), and in training (`--resume` with a planted `last.ckpt`,
`best.ckpt` or `state.pt`). What nndsl itself saves still loads.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from nndsl.cli import main
from nndsl.run.rundir import save_state
from nndsl.run.safe_load import (UnreadableCheckpoint, read_checkpoint, read_lightning_checkpoint,
                                 read_state_dict)

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
nndsl: 1
name: tiny
seed: 3
data: {source: digits, batch_size: 128, valid_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 8, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
cuts: units
schedule:
  - {phase: joint, stop: {max_epochs: 1}}
trainer: {max_epochs: 1, limit_train_batches: 2}
"""


def _one_line(text: str) -> str:
    return " ".join(text.split())  # rich may wrap long lines


def test_the_only_loads_in_nndsl_are_in_the_safe_reader():
    pattern = re.compile(r"torch\.load|pickle\.load|weights_only\s*=\s*False")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "nndsl").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line) and path.name != "safe_load.py"
    ]
    assert offenders == []


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_a_hostile_pickle_is_refused_without_running(kind, tmp_path, hostile_torch_file,
                                                     hostile_legacy_pickle):
    write = hostile_torch_file if kind == "zip" else hostile_legacy_pickle
    path = write(tmp_path / "evil.pt")
    with pytest.raises(UnreadableCheckpoint) as refused:
        read_checkpoint(path)
    assert refused.value.path == path
    assert "refuses" in refused.value.reason or "not a PyTorch checkpoint" in refused.value.reason
    if kind == "zip":
        assert "`exec`" in refused.value.reason


@pytest.mark.parametrize("content, reason", [
    (b"", "truncated or not a PyTorch checkpoint"),
    (b"hello, this is not a checkpoint", "truncated or not a PyTorch checkpoint"),
    (None, "does not exist"),
])
def test_damaged_or_missing_files_are_refused_with_a_reason(content, reason, tmp_path):
    path = tmp_path / "weights.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableCheckpoint, match=re.escape(reason)):
        read_checkpoint(path)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    save_state(tmp_path / "whole.pt", {"weight": torch.ones(50, 50)})
    data = (tmp_path / "whole.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableCheckpoint, match="truncated"):
        read_checkpoint(tmp_path / "half.pt")


def test_a_file_without_a_state_dict_is_refused(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(UnreadableCheckpoint, match="no state dict"):
        read_state_dict(tmp_path / "list.pt")
    with pytest.raises(UnreadableCheckpoint, match="not a Lightning checkpoint"):
        read_lightning_checkpoint(tmp_path / "list.pt")


def test_what_nndsl_saves_loads_under_weights_only(tmp_path):
    generator = torch.Generator().manual_seed(1)
    state = {"layers.out.0.weight": torch.randn(3, 2),
             "layers.norm.num_batches_tracked": torch.tensor(4)}
    save_state(tmp_path / "state.pt", state)
    assert read_state_dict(tmp_path / "state.pt").keys() == state.keys()
    # The shapes of what the run stage's callbacks keep in a Lightning checkpoint.
    checkpoint = {
        "state_dict": {f"network.{key}": value for key, value in state.items()},
        "epoch": 2,
        "callbacks": {
            "RandomState": {"torch": torch.get_rng_state(), "shuffle": generator.get_state()},
            "ParameterChange[valid/loss]": {"start": {"out": 1.5}, "best_score": None},
        },
        "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 2}}}},
    }
    torch.save(checkpoint, tmp_path / "last.ckpt")
    loaded = read_lightning_checkpoint(tmp_path / "last.ckpt")
    assert torch.equal(loaded["callbacks"]["RandomState"]["shuffle"], generator.get_state())
    assert read_state_dict(tmp_path / "last.ckpt").keys() == state.keys()


def _classifier_spec(directory: Path, checkpoint: str) -> Path:
    spec = directory / "spec.yaml"
    spec.write_text(SPEC.replace("  - {phase: joint, stop: {max_epochs: 1}}\n",
                                 f"  - {{phase: top_down, classifier_from: [{checkpoint}]}}\n"))
    return spec


@pytest.mark.parametrize("kind", ["hostile", "truncated"])
def test_validate_refuses_a_bad_classifier_checkpoint_at_its_entry(
    kind, tmp_path, hostile_torch_file, capsys
):
    if kind == "hostile":
        hostile_torch_file(tmp_path / "teacher.pt")
    else:
        save_state(tmp_path / "whole.pt", {"layers.out.0.weight": torch.zeros(10, 8)})
        (tmp_path / "teacher.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:300])
    spec = _classifier_spec(tmp_path, "teacher.pt")
    assert main(["validate", str(spec)]) == 2
    error = _one_line(capsys.readouterr().err)
    assert "Traceback" not in error
    assert f"{spec}:14:41: E414 checkpoint `teacher.pt` is not a state dict" in error
    assert ("exec`, which only running code" if kind == "hostile" else "truncated") in error


# --- training: planted files in a run directory met by `nndsl train SPEC --resume DIR` ---------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    from nndsl.run import train

    folder = tmp_path_factory.mktemp("finished")
    spec = folder / "spec.yaml"
    spec.write_text(SPEC)
    result = train(str(spec), run_dir=str(folder / "run"), progress_bar=False)
    return spec, result.directory


def _unfinished_copy(finished_run, tmp_path: Path) -> Path:
    """A copy of the run that looks interrupted during its only phase (resumes from last.ckpt)."""
    run = tmp_path / "run"
    shutil.copytree(finished_run[1], run)
    (run / "progress.json").write_text(json.dumps({"runs": {}}))
    (run / "checkpoints/joint/state.pt").unlink()
    return run


def _resume_fails(spec: Path, run: Path, capsys) -> str:
    status = main(["train", str(spec), "--resume", str(run)])
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert "Traceback" not in captured.err + captured.out
    return _one_line(captured.err)


@pytest.mark.slow
def test_nndsl_reads_back_every_file_it_wrote(finished_run):
    run = finished_run[1]
    for name in ("last.ckpt", "best.ckpt"):
        assert "state_dict" in read_lightning_checkpoint(run / "checkpoints/joint" / name)
    for path in (run / "checkpoints/joint/state.pt", run / "final_weights.pt"):
        assert "layers.out.0.weight" in read_state_dict(path)


@pytest.mark.slow
def test_resume_with_a_truncated_last_checkpoint_is_exit_2_naming_it(
    finished_run, tmp_path, capsys
):
    run = _unfinished_copy(finished_run, tmp_path)
    last = run / "checkpoints/joint/last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    error = _resume_fails(finished_run[0], run, capsys)
    assert f"checkpoint {last}: is truncated or not a PyTorch checkpoint" in error


@pytest.mark.slow
def test_resume_with_a_hostile_last_checkpoint_runs_nothing(finished_run, tmp_path,
                                                            hostile_torch_file, capsys):
    run = _unfinished_copy(finished_run, tmp_path)
    hostile_torch_file(run / "checkpoints/joint/last.ckpt")
    error = _resume_fails(finished_run[0], run, capsys)
    assert "a pickled `exec`" in error and "last.ckpt" in error


@pytest.mark.slow
def test_lightning_itself_loads_last_checkpoint_with_weights_only(
    finished_run, tmp_path, hostile_torch_file, monkeypatch
):
    """Even without nndsl's check first, Lightning's own load of `ckpt_path` refuses the pickle."""
    import pickle

    from nndsl.run import session, train

    run = _unfinished_copy(finished_run, tmp_path)
    hostile_torch_file(run / "checkpoints/joint/last.ckpt")
    monkeypatch.setattr(session, "read_lightning_checkpoint", lambda path: None)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        train(None, resume=str(run), progress_bar=False)


@pytest.mark.slow
def test_resume_with_a_hostile_state_file_runs_nothing(finished_run, tmp_path,
                                                       hostile_legacy_pickle, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run[1], run)
    state = run / "checkpoints/joint/state.pt"
    hostile_legacy_pickle(state)
    # progress.json names each finished run's state file; a hostile run directory names its own.
    progress = json.loads((run / "progress.json").read_text())
    progress["runs"]["joint"]["state"] = str(state)
    (run / "progress.json").write_text(json.dumps(progress))
    error = _resume_fails(finished_run[0], run, capsys)
    assert f"checkpoint {state}:" in error


@pytest.mark.slow
def test_resume_with_a_hostile_best_checkpoint_runs_nothing(tmp_path, hostile_torch_file, capsys):
    """The attack as found: the run's `best.ckpt` replaced by a pickle; resuming a run whose last
    epoch is done restores the best weights from that file."""
    from nndsl.run import train

    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    run = train(str(spec), run_dir=str(tmp_path / "run"), progress_bar=False).directory
    (run / "progress.json").write_text(json.dumps({"runs": {}}))
    best = run / "checkpoints/joint/best.ckpt"
    hostile_torch_file(best)
    error = _resume_fails(spec, run, capsys)
    assert f"checkpoint {best}:" in error and "a pickled `exec`" in error
