"""Kaldi data directories never run commands unless the spec opts in.

A `feats.scp` entry ending in `|` is a Kaldi pipe that kaldiio runs in a shell. `validate` and
`show` never run one; `train` runs them only with `allow_pipe_commands: true` under `data:`, and
without it a pipe entry is a located E412 naming that key.
"""

from __future__ import annotations

import stat
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from nndsl.cli import main
from nndsl.data.registry import DATA_SOURCES

SPEC = """nndsl: 1
name: kaldi-run
seed: 1
data: {{source: kaldi, feats: data/feats.scp, text: data/text, batch_size: 2,
       valid_fraction: 0.5{extra}}}
network:
  layers:
    - {{name: out, type: linear, units: 4}}
loss: {{type: ctc}}
optimizer: {{type: sgd, lr: 0.1}}
schedule:
  - {{phase: joint, stop: {{max_epochs: 1}}}}
trainer: {{max_epochs: 1}}
"""


def _data(folder: Path, pipe_line: str, extra: str = "") -> Path:
    """A data directory whose first scp entry is `pipe_line`, the others real ark entries."""
    data = folder / "data"
    data.mkdir()
    generator = np.random.default_rng(0)
    with kaldiio.WriteHelper(f"ark,scp:{data / 'feats.ark'},{data / 'feats.scp'}") as writer:
        for utterance in ("utt2", "utt3", "utt4"):
            writer(utterance, generator.normal(size=(8, 3)).astype(np.float32))
    lines = (data / "feats.scp").read_text()
    (data / "feats.scp").write_text(f"utt1 {pipe_line}\n{lines}")
    (data / "text").write_text("utt1 ab\nutt2 ba\nutt3 ab\nutt4 ba\n")
    spec = folder / "spec.yaml"
    spec.write_text(SPEC.format(extra=extra))
    return spec


def _fails(arguments: list[str], capsys) -> str:
    status = main(arguments)
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert "Traceback" not in captured.err + captured.out
    return " ".join(captured.err.split())


@pytest.mark.parametrize("command", ["validate", "show", "train"])
def test_a_pipe_entry_without_the_opt_in_is_e412_and_runs_nothing(
    command, tmp_path, marker, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    spec = _data(tmp_path, f"touch {marker} |")
    error = _fails([command, str(spec)], capsys)
    assert f"{spec}:4:30: E412" in error
    assert "utterance 'utt1' is a pipe command" in error and "`allow_pipe_commands: true`" in error
    assert not (tmp_path / "runs").exists()


def test_a_path_that_kaldiio_would_treat_as_a_pipe_is_refused(tmp_path, marker, capsys):
    """A file named `evil|` next to an executable `evil`: kaldiio would run `evil`."""
    spec = _data(tmp_path, "evil|:0")
    script = tmp_path / "data" / "evil"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "data" / "evil|").write_bytes(b"")
    error = _fails(["validate", str(spec)], capsys)
    assert "is a pipe command" in error


def test_with_the_opt_in_validation_and_show_still_run_no_command(tmp_path, marker, capsys):
    spec = _data(tmp_path, f"touch {marker} |", extra=", allow_pipe_commands: true")
    assert main(["validate", str(spec)]) == 0
    assert main(["show", str(spec)]) == 0  # the feature size comes from the first ark entry


def test_with_the_opt_in_and_only_pipes_validation_asks_for_feature_dim(tmp_path, marker, capsys):
    spec = _data(tmp_path, f"touch {marker} |", extra=", allow_pipe_commands: true")
    (tmp_path / "data/feats.scp").write_text(f"utt1 touch {marker} |\n")
    (tmp_path / "data/text").write_text("utt1 ab\n")
    error = _fails(["validate", str(spec)], capsys)
    assert "every entry is a pipe command" in error and "feature_dim" in error


def test_with_the_opt_in_training_runs_the_pipe(tmp_path, monkeypatch):
    """The opt-in is honoured: loading the data for training runs the command."""
    ran = tmp_path / "ran"
    matrix = np.arange(24, dtype=np.float32).reshape(8, 3)
    kaldiio.save_mat(str(tmp_path / "one.mat"), matrix)
    _data(tmp_path, f"touch {ran}; cat {tmp_path / 'one.mat'} |")
    source = DATA_SOURCES.get("kaldi")
    params = source.Params.model_validate({"feats": "data/feats.scp", "text": "data/text",
                                           "allow_pipe_commands": True})
    signature = source.signature(params, tmp_path)
    assert signature.input_shape == ("T", 3) and not ran.exists()
    arrays = source.load(params, tmp_path, seed=0)
    assert ran.exists()
    np.testing.assert_allclose(arrays.inputs[0, :8], matrix)


def test_the_opt_in_key_belongs_to_kaldi_only(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.format(extra="").replace(
            "source: kaldi, feats: data/feats.scp, text: data/text",
            "source: digits, allow_pipe_commands: true",
        )
    )
    error = _fails(["validate", str(spec)], capsys)
    assert "E301 unknown key `allow_pipe_commands`" in error

