"""What nndsl prints about user text is bounded and literal.

A code frame shows at most `FRAME_WIDTH` characters around the caret (a 1 MB line prints a few
hundred), messages are cut in the middle past `TEXT_LIMIT`, and user text never reaches rich as
markup (`[red]`) or as emoji codes (`:x:` in `root:x:0:0`) — in `validate`, `show`, `report` and
the TUI's diagnostic list.
"""

from __future__ import annotations

import json

import pytest

from nndsl.cli import main
from nndsl.cli.render import FRAME_WIDTH, TEXT_LIMIT, bounded, frame_window
from nndsl.diagnostics import Diagnostic, Span

SPEC = """nndsl: 1
name: {name}
data: {{source: digits, batch_size: 128, valid_fraction: 0.2}}
network:
  layers:
    - {{name: {layer}, type: linear, units: 8, activation: tanh}}
    - {{name: out, type: linear, units: 10}}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
"""


def _run(arguments: list[str], capsys) -> tuple[int, str]:
    status = main(arguments)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return status, captured.out + captured.err


def test_a_one_megabyte_line_prints_a_few_hundred_characters(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(name="n" * 1_000_000, layer="hidden"))
    status, output = _run(["validate", str(spec)], capsys)
    assert status == 2 and f"{spec}:2:7: E312" in output
    assert len(output) < 2_000, len(output)
    frame = next(line for line in output.splitlines() if line.lstrip().startswith("2 |"))
    assert frame.endswith("…") and len(frame) < FRAME_WIDTH + 20


@pytest.mark.parametrize("offset", [0, 5, 500, 999_990])
def test_the_caret_stays_under_its_character_when_a_line_is_cut(offset):
    text = "".join(chr(ord("a") + index % 26) for index in range(1_000_000))
    shown, caret = frame_window(text, offset)
    assert len(shown) <= FRAME_WIDTH + 2
    assert shown[caret] == text[offset]


def test_short_lines_are_shown_whole_and_tabs_keep_the_caret_aligned():
    assert frame_window("units: 3", 7) == ("units: 3", 7)
    assert frame_window("\tunits: 3", 8) == (" units: 3", 8)


def test_long_messages_are_cut_in_the_middle():
    text = "start " + "x" * 100_000 + " end"
    cut = bounded(text)
    assert len(cut) < TEXT_LIMIT + 60 and cut.startswith("start ") and cut.endswith(" end")
    assert "characters cut" in cut


def test_emoji_codes_and_markup_in_user_text_print_as_written(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(name="t", layer="hidden") + 'root:x:0:0: 1\n"[red]key[/red]": 2\n')
    status, output = _run(["validate", str(spec)], capsys)
    assert status == 2
    assert "unknown key `root:x:0:0`" in output and "❌" not in output
    assert "unknown key `[red]key[/red]`" in output


def test_show_prints_names_literally(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(name="t", layer='"h[bold]x[/bold]:x:"'))
    status, output = _run(["show", str(spec)], capsys)
    assert status == 0
    assert "h[bold]x[/bold]:x:" in output and "❌" not in output


def test_report_prints_a_run_directory_literally(tmp_path, capsys):
    """`nndsl report` of a run directory from someone else: its summary is user text."""
    summary = {"name": "[red]run[/red] root:x:0:0", "test": {"acc:x:": 0.5},
               "phases": [{"phase": "[blink]p", "run": "[blink]p", "cut": None, "attempt": None,
                           "epochs": 1, "monitor": "valid/loss", "best": 0.25, "accepted": True}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "curves.png").write_bytes(b"")
    status, output = _run(["report", str(tmp_path)], capsys)
    assert status == 0
    assert "[red]run[/red] root:x:0:0" in output and "[blink]p" in output and "acc:x:" in output
    assert "❌" not in output


def test_the_tui_lists_diagnostics_bounded_and_literal():
    from nndsl.tui.panes import DiagnosticList

    span = Span("spec.yaml", 2, 7, 2, 9)
    entry = DiagnosticList()._prompt(Diagnostic("E301",
                                                "unknown key `[red]" + "k" * 1_000_000 + ":x:`",
                                                span))
    assert len(entry.plain) < TEXT_LIMIT + 100 and "[red]" in entry.plain


@pytest.mark.parametrize("content, reason",
                         [("{oops", "cannot be read"), ("[1, 2]", "is not an nndsl summary"),
                          ('{"name": "x", "phases": 3}', "is not an nndsl summary")])
def test_report_of_a_damaged_summary_is_exit_2(content, reason, tmp_path, capsys):
    (tmp_path / "summary.json").write_text(content)
    status, output = _run(["report", str(tmp_path)], capsys)
    assert status == 2 and reason in output


def test_terminal_escape_sequences_in_user_text_do_not_reach_the_terminal(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(name="t", layer="hidden") + '"k\\e[2J\\e]0;title\\a": 1\n')
    status, output = _run(["validate", str(spec)], capsys)
    assert status == 2 and "unknown key `k\\x1b[2J\\x1b]0;title\\x07`" in output
    assert "\x1b" not in output and "\x07" not in output
