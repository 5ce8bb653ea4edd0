"""A spec from someone else cannot make nndsl read and print a file, or write outside `runs/`.

`use:` reads only YAML fragments inside the spec's folder (E210, E211: absolute paths, `..`,
symbolic links out of the folder or to a non-YAML file are refused at the `use:` entry, and the
file is neither read nor echoed); an error inside a fragment is shown from the spec's `use:`
entry first; experiment, phase and cut names are simple names (E312), checked at validation.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nndsl.cli import main

SECRET = "hunter2-do-not-print"

BODY = """data: {source: digits, batch_size: 128, valid_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 8, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
cuts: units
"""


def _spec(folder: Path, head: str, tail: str = "") -> Path:
    path = folder / "spec.yaml"
    path.write_text(f"nndsl: 1\n{head}{BODY}{tail}")
    return path


def _validate(spec: Path, capsys) -> tuple[int, str]:
    status = main(["validate", str(spec)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return status, captured.err + captured.out


def test_use_of_proc_environ_prints_no_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NNDSL_TEST_SECRET", SECRET)
    spec = _spec(tmp_path, "name: t\nuse: [/proc/self/environ]\n")
    status, output = _validate(spec, capsys)
    assert status == 2 and f"{spec}:3:7: E211" in output
    assert SECRET not in output


@pytest.mark.parametrize("name", ["secret.txt", "credentials.env", "id_rsa.pub"])
def test_use_of_a_file_that_is_not_yaml_is_refused_unread(name, tmp_path, capsys):
    (tmp_path / name).write_text(f"API_KEY={SECRET}\n")
    spec = _spec(tmp_path, f"name: t\nuse: [{name}]\n")
    status, output = _validate(spec, capsys)
    assert status == 2 and f"{spec}:3:7: E210" in output and "was not read" in output
    assert SECRET not in output


def test_a_yaml_file_outside_the_spec_folder_is_refused_unread(tmp_path, capsys):
    """A YAML file elsewhere whose line with a secret is a syntax error: before, its code frame
    printed that line."""
    (tmp_path / "config.yml").write_text(f"token: {SECRET}: oops\n")
    folder = tmp_path / "shared"
    folder.mkdir()
    for reference in ("../config.yml", str(tmp_path / "config.yml"), "sub/../../config.yml"):
        spec = _spec(folder, f"name: t\nuse: ['{reference}']\n")
        status, output = _validate(spec, capsys)
        assert status == 2 and f"{spec}:3:7: E211" in output, output
        assert SECRET not in output


def test_a_missing_file_outside_the_folder_is_refused_the_same_way(tmp_path, capsys):
    """The answer does not depend on whether the file exists, so a spec cannot probe for files."""
    spec = _spec(tmp_path, "name: t\nuse: [../../no/such/file.yaml]\n")
    status, output = _validate(spec, capsys)
    assert status == 2 and "E211" in output and "E201" not in output


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symbolic_links_out_of_the_folder_or_to_other_files_are_refused(tmp_path, capsys):
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"fragment: preset\nspec: {{name: {SECRET}}}\n: broken {SECRET}\n")
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "notes.txt").write_text(f"{SECRET}\n")
    (folder / "linked.yaml").symlink_to(outside)
    (folder / "inside.yaml").symlink_to(folder / "notes.txt")
    for reference, reason in (("linked.yaml", "outside the spec's folder"),
                              ("linked", "outside the spec's folder"), ("inside.yaml", "not YAML")):
        spec = _spec(folder, f"name: t\nuse: [{reference}]\n")
        status, output = _validate(spec, capsys)
        assert status == 2 and f"{spec}:3:7: E211" in output and reason in output, output
        assert SECRET not in output


def test_an_error_inside_a_fragment_starts_at_the_use_entry(tmp_path, capsys):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks/preset.yaml").write_text(
        "# a preset\nfragment: preset\nspec:\n  seed: -4\n"
    )
    spec = _spec(tmp_path, "name: t\nuse: [blocks/preset.yaml]\n")
    status, output = _validate(spec, capsys)
    lines = output.splitlines()
    assert status == 2 and lines[0].startswith(f"{spec}:3:7: E304"), lines[0]
    assert any(line.strip() == "3 | use: [blocks/preset.yaml]" for line in lines)
    assert f"= in fragment: {tmp_path / 'blocks/preset.yaml'}:4:9" in output
    assert "4 |   seed: -4" in output


@pytest.mark.parametrize("name",
                         ["../../escaped", "/tmp/nndsl-absolute", "a\\0b", ".hidden", "a/b",
                          "x" * 150])
def test_a_name_that_is_not_simple_is_e312_at_validation(name, tmp_path, capsys):
    spec = _spec(tmp_path, f'name: "{name}"\n')
    status, output = _validate(spec, capsys)
    assert status == 2 and f"{spec}:2:7: E312" in output, output


def test_train_with_an_escaping_name_writes_nothing(tmp_path, capsys, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    spec = _spec(work, 'name: "../../escaped"\n')
    assert main(["train", str(spec)]) == 2
    assert "E312" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["a", "b", "spec.yaml"]


@pytest.mark.parametrize("where, tail", [
    ("schedule[0].name", "schedule:\n  - {phase: joint, name: ../../../elsewhere}\n"),
    ("cuts", "schedule:\n  - {phase: top_down}\n"),
])
def test_phase_and_cut_names_are_simple_names(where, tail, tmp_path, capsys):
    body_cut = "cuts: units\n"
    spec = _spec(tmp_path, "name: t\n", tail)
    if where == "cuts":
        spec.write_text(spec.read_text().replace(body_cut, "cuts: {../up: {after: hidden}}\n"))
    status, output = _validate(spec, capsys)
    assert status == 2 and "E312" in output and f"`{where}`" in output, output
