"""`nndsl train --resume`: it continues the run's own spec and refuses anything else (exit 2).

The refusals happen before any training, so these tests make the run directory the way `train`
does (`open_run_directory`) without training. Ctrl-C and a resume from another working directory
without naming the spec: tests/run/test_mid_epoch_resume.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.run.train import open_run_directory

SPEC = """
nndsl: 1
name: resume-cli
seed: 3
data: {source: digits, batch_size: 64, valid_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 8, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.1}
schedule:
  - {phase: joint, stop: {max_epochs: 2}}
trainer: {max_epochs: 2, limit_train_batches: 4}
"""


def _run(tmp_path: Path, text: str = SPEC, overrides: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A spec file and a run directory made for it, as `nndsl train` makes one (no training)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    compiled = compile_spec(spec, list(overrides)).raise_for_errors()
    return spec, open_run_directory(compiled, str(spec), list(overrides), str(tmp_path / "run"))


def _refusal(capsys, arguments: list[str]) -> str:
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return " ".join(error.split())  # rich wraps long lines


def test_the_run_records_its_spec_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs/spec.yaml").write_text(SPEC)
    compiled = compile_spec("specs/spec.yaml").raise_for_errors()
    directory = open_run_directory(compiled, "specs/spec.yaml", [], "run")
    record = json.loads((directory / "run.json").read_text())
    assert record["spec_path"] == str(tmp_path / "specs/spec.yaml")


def test_resume_refuses_another_spec_and_names_file_and_values(tmp_path, capsys):
    _, directory = _run(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(SPEC.replace("units: 8,", "units: 12,").replace("name: resume-cli",
                                                                     "name: other"))
    error = _refusal(capsys, ["train", str(other), "--resume", str(directory)])
    assert "differ from the run's" in error
    assert f"`{other}` given, the run's is `{tmp_path / 'spec.yaml'}`" in error
    assert "name: resume-cli → other" in error
    assert "network.layers[0].units: 8 → 12" in error
    assert not (directory / "summary.json").exists()


def test_resume_refuses_an_override_the_run_did_not_have(tmp_path, capsys):
    spec, directory = _run(tmp_path)
    error = _refusal(capsys, ["train", str(spec), "--resume", str(directory),
                              "--set", "optimizer.lr=0.5"])
    assert "--set: `optimizer.lr=0.5` given, the run used none" in error
    assert "optimizer.lr: 0.1 → 0.5" in error
    # Without the spec, the override is checked against the run's spec all the same.
    error = _refusal(capsys, ["train", "--resume", str(directory), "--set", "optimizer.lr=0.5"])
    assert "optimizer.lr: 0.1 → 0.5" in error


def test_resume_refuses_dropping_the_runs_overrides(tmp_path, capsys):
    spec, directory = _run(tmp_path, overrides=("optimizer.lr=0.5",))
    error = _refusal(capsys, ["train", str(spec), "--resume", str(directory)])
    assert "--set: none given, the run used `optimizer.lr=0.5`" in error
    assert "optimizer.lr: 0.5 → 0.1" in error


def test_resume_refuses_when_the_runs_spec_file_changed(tmp_path, capsys):
    spec, directory = _run(tmp_path)
    spec.write_text(SPEC.replace("seed: 3", "seed: 4"))
    error = _refusal(capsys, ["train", "--resume", str(directory)])
    assert f"its spec `{spec}` changed since the run started" in error
    assert "seed: 3 → 4" in error


def test_resume_without_spec_says_when_the_runs_spec_is_gone(tmp_path, capsys):
    spec, directory = _run(tmp_path)
    spec.unlink()
    error = _refusal(capsys, ["train", "--resume", str(directory)])
    assert "no longer exists" in error and f"nndsl train SPEC --resume {directory}" in error


def test_resume_says_when_run_json_is_damaged(tmp_path, capsys):
    _, directory = _run(tmp_path)
    (directory / "run.json").write_text('{"spec_path": ')
    assert "run.json` is damaged" in _refusal(capsys, ["train", "--resume", str(directory)])
    (directory / "run.json").write_text('{"overrides": []}')
    assert "run.json` is damaged" in _refusal(capsys, ["train", "--resume", str(directory)])


def test_train_needs_a_spec_or_a_run_to_resume(tmp_path, capsys):
    assert "give a SPEC" in _refusal(capsys, ["train"])
    spec, directory = _run(tmp_path)
    assert "not an nndsl run directory" in _refusal(capsys, ["train", "--resume", str(tmp_path)])
    resume = ["train", "--resume", str(directory)]
    assert "exclude each other" in _refusal(capsys, [*resume, "--run-dir", str(tmp_path / "other")])
    assert "exclude each other" in _refusal(capsys, [*resume, "--fast-dev-run"])
