"""How diagnostics read: one per mistake, warnings marked as warnings, every independent error at
once; and the listing commands behave in a pipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nndsl.api import compile_spec
from nndsl.cli import main

REPEATED = """nndsl: 1
name: t
use: [std:blocks/dense]
data: {source: digits}
network:
  layers:
    - {block: dense, repeat: 3, name: "hidden{index}", with: {units: 16, activation: tanhh}}
    - {name: out, type: linear, units: OUT}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""


def _validate(tmp_path: Path, text: str, capsys) -> tuple[int, str]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    status = main(["validate", str(spec)])
    captured = capsys.readouterr()
    return status, " ".join((captured.out + captured.err).split())


def test_a_bad_value_in_a_repeated_block_is_reported_once(tmp_path, capsys):
    status, output = _validate(tmp_path, REPEATED.replace("OUT", "10"), capsys)
    assert status == 2
    assert output.count("E305") == 1 and "(applies to 3 copies)" in output
    assert "1 error" in output and "3 errors" not in output


def test_warnings_are_marked_and_counted_apart(tmp_path, capsys):
    valid = REPEATED.replace("OUT", "12").replace("tanhh", "tanh")
    status, output = _validate(tmp_path, valid, capsys)
    assert status == 0
    assert "warning E505" in output and "valid (1 warning)" in output
    from nndsl.cli.render import summary_text
    from nndsl.diagnostics import Diagnostic

    found = [Diagnostic("E301", "a"), Diagnostic("E505", "b", severity="warning"),
             Diagnostic("E302", "c")]
    assert summary_text("s.yaml", found) == "s.yaml: 2 errors, 1 warning"


def test_independent_checks_report_together_with_spec_errors():
    text = """nndsl: 1
name: t
data: {source: digits}
network:
  layers:
    - {name: hidden, type: linear, units: 32}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy, smoothing: 0.1}
metrics: [perplexity]
optimizer: {type: sgd, lr: 0.1, momentun: 0.9}
cuts:
  C1: {after: hiden}
schedule:
  - {phase: joint, stop: {monitor: valid/los}}
"""
    compiled = compile_spec("spec.yaml", [], text=text)
    found = sorted((item.code, item.span.line) for item in compiled.diagnostics)
    # Two typos (E301), and the checks whose sections are sound: the cut, the metric, the monitor.
    assert found == [("E301", 8), ("E301", 10), ("E407", 14), ("E409", 9), ("E411", 12)]


def test_checks_that_read_a_faulty_section_do_not_run():
    text = """nndsl: 1
name: t
data: {source: digits}
network:
  layers:
    - {name: out, type: linear, units: 10, colour: red}
cuts:
  C1: {after: nowhere}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""
    codes = [item.code for item in compile_spec("spec.yaml", [], text=text).diagnostics]
    assert codes == ["E301"]  # the cut check needs the network, which has an error


def test_schema_into_a_closed_pipe_exits_cleanly():
    # The schema is larger than a pipe's buffer, so the writer meets the closed pipe.
    process = subprocess.Popen([sys.executable, "-c", "import sys; from nndsl.cli import main; "
                                "sys.exit(main(['schema']))"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"{"
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_ls_shows_the_use_syntax_and_each_fragments_doc(capsys):
    assert main(["ls"]) == 0
    output = capsys.readouterr().out
    assert "stdlib fragments (use: [std:...])" in output
    flat = " ".join(output.replace("│", " ").split())  # rich wraps long cells
    # The `doc:` line of stdlib/schedules/top_down_greedy.yaml, whole.
    assert "joint training, then greedy top-down cut search (patience 5 on valid/loss)" in flat


def test_show_prints_the_warnings_of_a_valid_spec(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(REPEATED.replace("OUT", "12").replace("tanhh", "tanh"))
    assert main(["show", str(spec)]) == 0
    assert "warning E505" in capsys.readouterr().err


def test_graph_errors_are_reported_with_check_errors_that_leave_the_graph_sound():
    text = """nndsl: 1
name: t
data: {source: digits}
network:
  layers:
    - {name: recurrent, type: lstm, hidden: 32, output: last}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [cer]
optimizer: {type: sgd, lr: 0.1}
"""
    codes = sorted(item.code for item in compile_spec("spec.yaml", [], text=text).diagnostics)
    assert codes == ["E409", "E504"]  # the metric (check stage) and the layer (graph stage)


def test_no_partial_checks_when_a_fragment_is_missing():
    # The missing fragment might have defined the cuts: a "cut does not exist" would mislead.
    text = """nndsl: 1
name: t
use: [std:schedules/nowhere]
data: {source: digits}
network:
  layers:
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1, momentun: 0.9}
schedule:
  - {phase: retrain_classifier, cut: C1}
"""
    codes = sorted(item.code for item in compile_spec("spec.yaml", [], text=text).diagnostics)
    assert codes == ["E201", "E301"]
