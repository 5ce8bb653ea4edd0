"""The front-end commands end to end: validate, show, schema and ls (in-process, plus one
real run of the `nndsl` console script)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.cli import main
from nndsl.layers import LAYERS

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
BROKEN = """nndsl: 1
name: broken
use: [std:blocks/dense]
data: {source: digits}
network:
  layers:
    - {block: dense, with: {units: 32}}
    - {type: linear, unitz: 10}
    - {type: lienar, units: 3}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    return path


def run(capsys, *arguments: str) -> tuple[int, str, str]:
    status = main(list(arguments))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_validate_accepts_the_shipped_specs(capsys):
    paths = [str(path) for path in sorted(SPECS.glob("*.yaml"))]
    status, out, err = run(capsys, "validate", *paths)
    # Fine-tuning specs warn, and only that, while the run they start from is still to be trained.
    headers = re.findall(r"^\S+:\d+:\d+: (.*?E\d{3}) ", err, re.M)
    assert status == 0 and set(headers) <= {"warning E335"}
    assert len(headers) == err.count("= hint:")  # no diagnostic without a header line
    assert out.count("valid") == len(list(SPECS.glob("*.yaml")))
    assert "✓" in out and "quickstart.yaml: valid" in out


def test_validate_prints_every_error_with_its_line_a_caret_origin_and_hint(broken, capsys):
    status, out, err = run(capsys, "validate", str(broken), "--set", "trainer.max_epochs=x")
    assert status == 2 and "Traceback" not in err
    lines = err.splitlines()
    header = next(index for index, line in enumerate(lines) if ": E301 " in line)
    assert lines[header] == f"{broken}:8:22: E301 unknown key `unitz` in network.layers[1]"
    assert lines[header + 1] == "    8 |     - {type: linear, unitz: 10}"
    assert lines[header + 2] == "      |                      ^^^^^"
    assert lines[header + 3] == "    = from: the spec"
    assert lines[header + 4] == "    = hint: did you mean `units` or `init`?"
    assert f"{broken}:9:14: E306 unknown layer type `lienar`" in err
    assert "= hint: did you mean `linear`?" in err
    assert "--set #1:1:20: E303 `trainer.max_epochs`" in err
    assert "    1 | trainer.max_epochs=x" in err and "= from: a --set override" in err
    # the summary line (long tmp paths may wrap it at 80 columns)
    assert " ".join(err.split()).endswith(f"✗ {broken}: 3 errors")


def test_validate_says_where_a_value_came_from(tmp_path, capsys):
    valid = BROKEN.replace("    - {type: linear, unitz: 10}\n    - {type: lienar, units: 3}\n",
                           "    - {name: out, type: linear, units: 10}\n")
    path = tmp_path / "spec.yaml"
    # a bad `with:` value flows into the fragment's template, but was written in the spec
    path.write_text(valid.replace("with: {units: 32}", "with: {units: 32, activation: tahn}"))
    status, _, err = run(capsys, "validate", str(path))
    assert status == 2 and f"{path}:7:52: E305" in err and "= from: the spec" in err
    path.write_text(valid.replace("optimizer: {type: sgd, lr: 0.1}\n", "").replace(
        "use: [std:blocks/dense]", "use: [std:blocks/dense, std:presets/adadelta_espnet]"))
    assert run(capsys, "validate", str(path))[0] == 0
    status, _, err = run(capsys, "validate", str(path), "--set", "optimizer.rho=1.5")
    assert status == 2 and "--set #1:1:15: E304" in err and "= from: a --set override" in err
    # switching the preset's optimiser leaves its Adadelta keys behind, reported where written
    status, _, err = run(capsys, "validate", str(path), "--set", "optimizer.type=sgd")
    assert status == 2
    # first the spec's `use:` entry that brought the preset in, then the preset's own line
    assert f"{path}:3:25: E301 unknown key `rho` in optimizer" in err
    assert "= in fragment: std:presets/adadelta_espnet:6:40" in err
    assert "= from: stdlib fragment std:presets/adadelta_espnet" in err
    assert "  6 |   optimizer: {type: adadelta, lr: 1.0, rho: 0.95, eps: 1.0e-8}" in err


def test_validate_json_carries_code_place_and_origin(broken, capsys):
    quickstart = str(SPECS / "quickstart.yaml")
    status, out, err = run(capsys, "validate", "--format", "json", str(broken), quickstart,
                           "--set", "seed=-1")
    assert status == 2
    results = json.loads(out)
    assert [result["valid"] for result in results] == [False, False]
    first = {(item["code"], item["line"], item["column"], item["origin"])
             for item in results[0]["diagnostics"]}
    assert first == {("E301", 8, 22, "spec"), ("E306", 9, 14, "spec"), ("E304", 1, 6, "--set")}
    item = next(item for item in results[0]["diagnostics"] if item["code"] == "E301")
    assert item["file"] == str(broken) and item["hint"] == "did you mean `units` or `init`?"
    assert (item["end_line"], item["end_column"], item["severity"]) == (8, 27, "error")
    status, out, _ = run(capsys, "validate", "--format", "json", quickstart)
    assert status == 0
    assert json.loads(out) == [{"file": quickstart, "valid": True, "diagnostics": []}]


def test_show_folds_repeated_blocks_and_draws_the_cuts(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # rich reads the width from here; no cell wraps
    status, out, err = run(capsys, "show", str(SPECS / "topdown_blstm_ctc.yaml"))
    assert status == 0 and err == ""
    assert "enc1..enc4 ×4" in out and "enc2" not in out.split("phases")[0].replace("enc1..enc4", "")
    assert "── C1..C4 ──" in out and "cut after each" in out
    assert "926,720" in out and "1,643,520 ×3" in out and "205,120 ×4" in out and "6,684,501" in out
    assert "C4 → C3 → C2 → C1 (greedy)" in out
    status, out, _ = run(capsys, "show", str(SPECS / "topdown_cnn_blstm.yaml"))
    assert "── cut C1 ──" in out and "── C5..C10 ──" in out and "enc1..enc6 ×6" in out


def test_show_fits_the_network_table_in_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = run(capsys, "show", str(SPECS / "topdown_blstm_ctc.yaml"))
    network = out.split("phases")[0]
    assert status == 0 and max(len(line) for line in network.splitlines()) <= 80
    assert "│ enc1..enc4 ×4 │ enc*.blstm " in network
    assert "enc*.projection" in network  # folded or cropped names would not name the layer


def test_show_prints_the_tempering_table(capsys):
    status, out, _ = run(capsys, "show", str(SPECS / "family_relations_tempered.yaml"))
    assert status == 0
    assert "tempering (schraudolph)" in out and "0.277 η" in out and "1.512 η" in out


def test_show_json_is_the_graph_and_the_plan(capsys):
    status, out, _ = run(capsys, "show", "--format", "json", str(SPECS / "quickstart.yaml"))
    assert status == 0
    dump = json.loads(out)
    assert dump["graph"]["parameters"] == 8_970
    assert [cut["name"] for cut in dump["plan"]["cuts"]] == ["C1", "C2"]


def test_show_of_an_invalid_spec_exits_2_with_diagnostics(broken, capsys):
    status, out, err = run(capsys, "show", str(broken))
    assert status == 2 and out == "" and "E301" in err and "Traceback" not in err


def test_schema_is_json_with_the_layer_alternatives(capsys):
    status, out, _ = run(capsys, "schema")
    assert status == 0
    schema = json.loads(out)
    assert schema["$schema"].endswith("2020-12/schema")
    definitions = schema["$defs"]
    alternatives = definitions["NetworkItem"]["anyOf"][2]["allOf"]
    described = {alternative["if"]["properties"]["type"]["const"] for alternative in alternatives}
    assert described == set(LAYERS.names())
    linear = next(item["then"] for item in alternatives
                  if item["if"]["properties"]["type"]["const"] == "linear")
    assert "units" in linear["properties"] and "units" in linear["required"]
    assert {"source"} <= set(definitions["DataSpec"]["properties"])


def test_shipped_specs_validate_against_the_schema_and_mistakes_do_not(capsys):
    import jsonschema
    import yaml

    _, out, _ = run(capsys, "schema")
    validator = jsonschema.Draft202012Validator(json.loads(out))
    for path in sorted(SPECS.glob("*.yaml")):
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path.name
    spec = yaml.safe_load((SPECS / "quickstart.yaml").read_text())
    # Sections may come from `use:` fragments; without fragments the required ones must be there.
    assert validator.is_valid({key: value for key, value in spec.items() if key != "optimizer"})
    assert not validator.is_valid({key: value for key, value in spec.items() if key not in ("optimizer", "use")})
    assert not validator.is_valid({**spec, "metricz": ["accuracy"]})
    assert not validator.is_valid({**spec, "network": {"layers": [{"type": "linear", "unitz": 3}]}})


def test_ls_lists_every_layer_type_source_and_fragment(capsys):
    status, out, _ = run(capsys, "ls")
    assert status == 0
    for name in LAYERS.names():
        assert f"\n {name} " in out or f"\n{name} " in out, name
    assert "digits" in out and "std:blocks/blstm_projection" in out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["validate"])
    assert caught.value.code == 2


def test_console_script_runs_validate_in_a_subprocess(broken):
    script = shutil.which("nndsl") or str(Path(sys.executable).parent / "nndsl")
    environment = {**os.environ, "COLUMNS": "100"}
    good = subprocess.run([script, "validate", "specs/quickstart.yaml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=environment)
    assert good.returncode == 0 and "valid" in good.stdout
    bad = subprocess.run([script, "validate", str(broken)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=environment)
    assert bad.returncode == 2 and "E301" in bad.stderr and "Traceback" not in bad.stderr
