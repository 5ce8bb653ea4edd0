"""Faults at run time end in a clear message, exit 2, no traceback, and leave nothing unexplained.

A run directory that cannot be made (read-only parent, a file in the way) is a one-line error;
damaged or non-finite data is a located E412 before any run directory exists (never blamed on
the learning rate); a run that fails after its directory exists records the failure in run.json,
and a later `--run-dir` of that directory says so and names `--resume`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nndsl.cli import main

SPEC = """
nndsl: 1
name: faults
seed: 1
data: {{source: {source}, path: {path}, batch_size: 8, valid_fraction: 0.2}}
network:
  layers:
    - {{name: out, type: linear, units: 2}}
loss: {{type: cross_entropy}}
metrics: [accuracy]
optimizer: {{type: sgd, lr: 0.1}}
schedule:
  - {{phase: joint, stop: {{max_epochs: 1}}}}
trainer: {{max_epochs: 1}}
"""


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _spec(directory: Path, source: str = "npz", path: str = "data.npz") -> Path:
    spec = directory / "spec.yaml"
    spec.write_text(SPEC.format(source=source, path=path))
    return spec


def _good_data(directory: Path) -> None:
    np.savez(directory / "data.npz", inputs=np.random.default_rng(0).normal(size=(20, 3)),
             targets=np.arange(20) % 2)


def _fails(arguments: list[str], capsys) -> str:
    status = main(arguments)
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert "Traceback" not in captured.err + captured.out
    return " ".join(captured.err.split())


def test_run_directory_below_a_file_is_a_one_line_error(workdir, capsys):
    _good_data(workdir)
    (workdir / "taken").write_text("a file, not a folder")
    error = _fails(["train", str(_spec(workdir)), "--run-dir", "taken/run"], capsys)
    assert "cannot create run directory `taken/run`" in error


def test_run_directory_in_a_read_only_folder_is_a_one_line_error(workdir, capsys, monkeypatch):
    # Tests may run as root, for whom chmod does not make a folder read-only: refuse the mkdir.
    _good_data(workdir)
    original = Path.mkdir

    def refuse(self, *arguments, **keywords):
        if "locked" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *arguments, **keywords)

    monkeypatch.setattr(Path, "mkdir", refuse)
    error = _fails(["train", str(_spec(workdir)), "--run-dir", "locked/run"], capsys)
    assert "cannot create run directory `locked/run`: Permission denied" in error


@pytest.mark.parametrize("command", ["validate", "train"])
def test_csv_not_utf8_is_located_at_validate_and_train(workdir, capsys, command):
    (workdir / "table.csv").write_bytes("a,b,target\n1,2,0\n3,4,caf\xe9\n".encode("latin1"))
    error = _fails([command, str(_spec(workdir, "csv", "table.csv"))], capsys)
    assert "E412" in error and "line 3" in error and "not UTF-8" in error
    assert not (workdir / "runs").exists()


def test_nan_in_csv_is_not_blamed_on_the_learning_rate(workdir, capsys):
    (workdir / "table.csv").write_text("a,b,target\n" + "1,2,0\n3,4,1\n" * 8 + "5,nan,0\n")
    error = _fails(["train", str(_spec(workdir, "csv", "table.csv"))], capsys)
    assert "line 18, column 'b'" in error and "learning rate" not in error


def test_truncated_npz_member_at_train(workdir, capsys):
    import zipfile

    _good_data(workdir)
    with zipfile.ZipFile(workdir / "data.npz") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(workdir / "data.npz", "w") as archive:
        archive.writestr("inputs.npy", members["inputs.npy"][:150])
        archive.writestr("targets.npy", members["targets.npy"])
    error = _fails(["train", str(_spec(workdir)), "--run-dir", "run"], capsys)
    assert "E412" in error and "'inputs' is truncated" in error and not (workdir / "run").exists()


def test_npz_without_rows_is_an_error_at_validate(workdir, capsys):
    np.savez(workdir / "data.npz", inputs=np.zeros((0, 3)), targets=np.zeros((0,), np.int64))
    error = _fails(["validate", str(_spec(workdir))], capsys)
    assert "E412" in error and "no rows" in error


def test_a_run_that_fails_after_its_directory_exists_says_so_in_run_json(
    workdir, capsys, monkeypatch
):
    import nndsl.run.session as session

    def broken(*arguments, **keywords):
        raise RuntimeError("the network could not be built")

    _good_data(workdir)
    monkeypatch.setattr(session, "build_network", broken)
    with pytest.raises(RuntimeError):
        main(["train", str(_spec(workdir)), "--run-dir", "run"])
    record = json.loads((workdir / "run/run.json").read_text())
    assert record["status"] == "failed"
    assert record["error"] == "RuntimeError: the network could not be built"
    capsys.readouterr()
    error = _fails(["train", str(_spec(workdir)), "--run-dir", "run"], capsys)
    assert "holds a run that failed: RuntimeError: the network could not be built" in error
    assert "--resume run" in error
    monkeypatch.undo()  # the fault is gone: resuming the failed run finishes it
    monkeypatch.chdir(workdir)
    assert main(["train", str(_spec(workdir)), "--resume", "run"]) == 0
    assert json.loads((workdir / "run/run.json").read_text())["status"] == "finished"


def test_a_finished_run_is_marked_finished(workdir, capsys):
    _good_data(workdir)
    assert main(["train", str(_spec(workdir)), "--run-dir", "run"]) == 0
    assert json.loads((workdir / "run/run.json").read_text())["status"] == "finished"


def test_training_prints_no_library_deprecation_noise_and_counts_parameters(workdir, capsys):
    import warnings

    _good_data(workdir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", str(_spec(workdir)), "--run-dir", "run"]) == 0
        warnings.warn("a FutureWarning of the user's own", FutureWarning)  # still shown
    messages = [str(item.message) for item in caught]
    noise = ("LeafSpec", "weights_only", "set_vital")
    assert not [text for text in messages if any(word in text for word in noise)], messages
    assert "a FutureWarning of the user's own" in messages
    output = " ".join(capsys.readouterr().out.split())
    # 3 inputs -> 2 classes: 8 parameters, as the phase table counts them (not "1 trainable" layer).
    assert "▶ phase joint (8 trainable parameters)" in output


def test_run_json_records_interruptions_and_a_finished_run_is_not_offered_for_resume(tmp_path):
    from nndsl.run.rundir import RunDirectoryError, recording_outcome, refuse_existing, write_json

    write_json(tmp_path / "run.json", {"spec_path": "spec.yaml", "overrides": [], "spec_hash": "x"})
    with pytest.raises(KeyboardInterrupt), recording_outcome(tmp_path):
        raise KeyboardInterrupt
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == "interrupted" and record["spec_hash"] == "x"
    with pytest.raises(RunDirectoryError, match="holds an interrupted run.*--resume"):
        refuse_existing(tmp_path)
    with recording_outcome(tmp_path):
        pass
    assert "error" not in json.loads((tmp_path / "run.json").read_text())
    with pytest.raises(RunDirectoryError) as caught:
        refuse_existing(tmp_path)
    assert "holds a finished run" in str(caught.value) and "--resume" not in str(caught.value)


def test_a_write_refused_during_training_is_a_one_line_error(workdir, capsys, monkeypatch):
    import importlib

    train_module = importlib.import_module("nndsl.run.train")
    original = train_module.write_json

    def refuse_the_summary(path, value):
        if path.name == "summary.json":
            raise OSError(28, "No space left on device", "run/summary.json")
        original(path, value)

    _good_data(workdir)
    monkeypatch.setattr(train_module, "write_json", refuse_the_summary)
    error = _fails(["train", str(_spec(workdir)), "--run-dir", "run"], capsys)
    assert "cannot write `run/summary.json`: No space left on device" in error
    assert json.loads((workdir / "run/run.json").read_text())["status"] == "failed"
