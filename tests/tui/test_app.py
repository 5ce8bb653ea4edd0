"""`nndsl tui` driven through textual's pilot in an 80×24 terminal."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from conftest import SPECS, screen_text, wait_for
from textual.widgets import TabbedContent

from nndsl.tui.app import NndslApp
from nndsl.tui.graph_view import NetworkTree
from nndsl.tui.help import HelpScreen
from nndsl.tui.panes import DiagnosticList
from nndsl.tui.source_view import SourceView

SIZE = (80, 24)


def run(spec: Path | str, scenario) -> NndslApp:
    """Run `scenario(app, pilot)` against a freshly started app; returns the app afterwards."""
    app = NndslApp(str(spec))

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await scenario(app, pilot)

    asyncio.run(main())
    return app


def layer_label(app: NndslApp, layer: str) -> str:
    tree = app.query_one(NetworkTree)
    node = next(node for node in tree._all_nodes() if node.data == f"layer:{layer}")
    return node.label.plain


def test_valid_spec_shows_yaml_graph_and_plan():
    async def scenario(app, pilot):
        await pilot.pause()  # let the footer render before reading the screen (slow under load)
        text = screen_text(app)
        assert "✓ valid" in text and "8,970 parameters" in text
        assert " 6  │ nndsl: 1" in text and "✓ no problems found" in text
        assert (
            "q quit" in text and "? help" in text and "n/p phase" in text
        )  # the footer at 80 columns
        await pilot.press("3")
        text = screen_text(app)
        assert "hidden1..hidden2 ×2" in text and "──── cut C2 ────" in text and "out" in text
        assert "hidden1.linear" not in text  # the repeat is folded
        assert "phase 1/1 · joint" in text
        await pilot.press("f")
        await pilot.pause()
        text = screen_text(app)
        assert (
            "hidden1.linear" in text
            and "[64]" in text
            and "4,160" in text
            and "──── cut C1 ────" in text
        )
        await pilot.press("f")
        await pilot.pause()
        assert "hidden1.linear" not in screen_text(app)
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        assert "parameter groups in joint — sgd, lr 0.1" in text and "rate×1" in text
        assert app.focused is app.query_one("#plan-scroll")

    run(SPECS / "quickstart.yaml", scenario)


def test_phases_change_layer_states_in_topdown_spec():
    async def scenario(app, pilot):
        await pilot.press("3")
        assert "trainable" in layer_label(app, "out") and "trainable" in layer_label(
            app, "enc1.blstm"
        )
        await pilot.press("n")
        await pilot.pause()
        text = screen_text(app)
        assert "phase 2/2 · top_down (attempt 1/4, cut C4)" in text
        assert "──── cut C4 ────  ◀ this phase's cut" in text
        assert "frozen" in layer_label(app, "out") and "❄" in layer_label(app, "out")
        assert "re-init" in layer_label(app, "enc4.blstm") and "re-init" in layer_label(
            app, "enc1.blstm"
        )
        await pilot.press("n")  # the greedy search's next attempt: cut C3 freezes enc4 too
        await pilot.pause()
        assert "attempt 2/4, cut C3" in screen_text(app)
        assert "frozen" in layer_label(app, "enc4.projection") and "re-init" in layer_label(
            app, "enc3.blstm"
        )
        await pilot.press("4")
        await pilot.pause()
        text = screen_text(app)
        assert "parameter groups in top_down (attempt 2/4, cut C3)" in text
        assert "frozen, outside the optimiser: enc4.blstm, enc4.projection, out" in text
        await pilot.press("p", "p")
        await pilot.pause()
        assert "phase 1/2 · joint" in screen_text(app)
        assert "trainable" in layer_label(app, "out")

    run(SPECS / "topdown_blstm_ctc.yaml", scenario)


def test_invalid_spec_shows_yaml_diagnostics_and_why_panes_are_empty(broken_spec):
    async def scenario(app, pilot):
        text = screen_text(app)
        assert "✗ 2 errors" in text
        assert (
            " 9 ✗│     - {type: linear, unitz: 10}" in text and "10 ✗│     - {type: lienar" in text
        )
        assert "✗ E301 9:22" in text and "did you mean `units`" in text
        assert "✗ E306 10:14" in text and "did you mean `linear`?" in text
        source = app.query_one(SourceView)
        await pilot.press("2", "down")  # highlight the second diagnostic: the YAML follows
        await pilot.pause()
        assert app.focused is app.query_one(DiagnosticList) and source.cursor_line == 10
        await pilot.press("up", "enter")  # enter goes to the line
        await pilot.pause()
        assert app.focused is source and source.cursor_line == 9
        await pilot.press("3")
        await pilot.pause()
        assert "No graph to draw: the spec has 2 errors" in screen_text(app)
        await pilot.press("4")
        await pilot.pause()
        assert "No plan to show: the spec has 2 errors" in screen_text(app)

    run(broken_spec, scenario)


def test_e_jumps_from_any_pane_to_the_next_error(broken_spec):
    async def scenario(app, pilot):
        source = app.query_one(SourceView)
        await pilot.press("3", "e")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "spec-tab"
        assert app.focused is source and source.cursor_line == 9
        await pilot.press("e")
        assert source.cursor_line == 10 and app.query_one(DiagnosticList).highlighted == 1
        await pilot.press("e")  # wraps round
        assert source.cursor_line == 9
        await pilot.press("E")
        assert source.cursor_line == 10

    run(broken_spec, scenario)


def test_editing_the_file_redraws_in_place(tmp_path):
    spec = tmp_path / "quickstart.yaml"
    shutil.copy(SPECS / "quickstart.yaml", spec)
    good = spec.read_text()

    async def scenario(app, pilot):
        source = app.query_one(SourceView)
        await pilot.press(*["down"] * 13)
        assert source.cursor_line == 14
        spec.write_text(good.replace("type: linear, units: 10", "type: linear, unitz: 10"))
        await wait_for(pilot, lambda: "✗ 1 error" in screen_text(app), timeout=3)
        text = screen_text(app)
        assert "14 ✗│" in text and "E301" in text and "reloaded ×1" in text
        assert source.cursor_line == 14 and app.focused is source  # the user's place is kept
        await pilot.press("3")
        await wait_for(pilot, lambda: "No graph to draw" in screen_text(app))
        spec.write_text(good.replace("units: 64", "units: 32"))
        await wait_for(pilot, lambda: "✓ valid" in screen_text(app), timeout=3)
        assert app.query_one(TabbedContent).active == "graph-tab"
        assert "[32]" in layer_label(app, "hidden2.linear")

    run(spec, scenario)


def test_reload_keeps_open_folds_and_phase(tmp_path):
    spec = tmp_path / "topdown.yaml"
    shutil.copy(SPECS / "topdown_blstm_ctc.yaml", spec)

    async def scenario(app, pilot):
        await pilot.press("3", "f", "n", "n")
        await pilot.pause()
        spec.write_text(spec.read_text().replace("units: 21", "units: 31"))
        await wait_for(pilot, lambda: "reloaded ×1" in screen_text(app), timeout=3)
        text = screen_text(app)
        assert "attempt 2/4, cut C3" in text and "enc2.blstm" in text  # still unfolded, same step
        assert "[T, 31]" in layer_label(app, "out")

    run(spec, scenario)


def test_help_screen_and_clean_quit():
    async def scenario(app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "next / previous phase" in text and "jump to the next / previous error" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()

    app = run(SPECS / "quickstart.yaml", scenario)
    assert app.return_value == 0


def test_plan_shows_tempering_and_only_the_sections_the_plan_has():
    async def scenario(app, pilot):
        await pilot.press("4", "end")
        await pilot.pause()
        text = screen_text(app)
        assert "tempering (schraudolph)" in text and "1.512 η" in text
        assert not app.query_one("#plan-memory").display
        assert not app.query_one("#plan-ensemble").display

    run(SPECS / "family_relations_tempered.yaml", scenario)


def test_memory_pane_appears_when_the_spec_gains_a_budget(tmp_path):
    spec = tmp_path / "lstm.yaml"
    shutil.copy(SPECS / "lstm_language_model.yaml", spec)

    async def scenario(app, pilot):
        await pilot.press("4")
        assert not app.query_one("#plan-memory").display
        spec.write_text(spec.read_text() + "memory: {budget: 5%, policy: optimal}\n")
        await wait_for(pilot, lambda: app.query_one("#plan-memory").display, timeout=3)
        await pilot.press("end")
        await pilot.pause()
        text = screen_text(app)
        assert "memory: budget 2.00 MiB, policy optimal" in text and "lstm2.lstm" in text

    run(spec, scenario)


def test_ensemble_pane():
    async def scenario(app, pilot):
        await pilot.press("4", "end")
        await pilot.pause()
        assert app.query_one("#plan-ensemble").display
        assert "ensemble: 4 members — sMCL oracle loss" in screen_text(app)

    run(SPECS / "ensemble_smcl_digits.yaml", scenario)


def test_errors_in_a_fragment_file_show_that_file_and_it_is_watched(tmp_path):
    block = tmp_path / "block.yaml"
    block.write_text(
        "fragment: block\ndoc: a linear layer\nparams: {units: 64}\nlayers:\n"
        '  - {name: linear, type: linear, units: "${units}", activashun: tanh}\n'
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        (SPECS / "quickstart.yaml")
        .read_text()
        .replace("use: [std:blocks/dense]", "use: [./block.yaml]")
        .replace("block: dense", "block: block")
        .replace(", activation: tanh", "")
    )

    async def scenario(app, pilot):
        source = app.query_one(SourceView)
        assert "✗ E301 5:53 in" in screen_text(app)
        await pilot.press("e")
        await pilot.pause()
        assert Path(source.file).name == "block.yaml" and source.cursor_line == 5
        assert "activashun" in screen_text(app)
        block.write_text(block.read_text().replace("activashun", "activation"))
        await wait_for(pilot, lambda: "✓ valid" in screen_text(app), timeout=3)
        await pilot.press("1")
        assert source.file == str(spec)

    run(spec, scenario)
