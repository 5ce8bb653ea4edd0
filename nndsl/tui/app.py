"""TUI: the application — layout, keys, live reload.

In: a spec path. Out: an interactive screen running the same front end as `nndsl validate` and
`nndsl show` (`compile_spec`, never torch or Lightning). Three tabs: the spec (YAML beside its
diagnostics), the graph, the plan. A timer polls the spec (and its fragment files) twice a
second; a change recompiles and redraws in place, keeping the cursor, scroll, open folds, phase
and focused pane. The first compile runs before the screen is drawn; later ones (a save, `r`) run
in a worker thread, so keys and scrolling keep working while a large spec revalidates, and a
newer change supersedes a compile still running (its result is dropped).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, TabbedContent, TabPane
from textual.worker import get_current_worker

from nndsl.api import Compiled, compile_spec
from nndsl.tui.graph_view import GraphPane, NetworkTree
from nndsl.tui.help import HelpScreen
from nndsl.tui.panes import DiagnosticList, StatusLine, counts, plural
from nndsl.tui.phase_steps import PhaseStep, find_step, phase_steps
from nndsl.tui.plan_view import PlanPane
from nndsl.tui.source_view import SourceView, highlighted_lines
from nndsl.tui.watch import POLL_SECONDS, FileWatcher, local_sources

PANES = {
    "source": ("spec-tab", "#source"),
    "diagnostics": ("spec-tab", "#diagnostics"),
    "graph": ("graph-tab", "#graph-tree"),
    "plan": ("plan-tab", "#plan-scroll"),
}


class NndslApp(App[int]):
    """`nndsl tui SPEC`."""

    TITLE = "nndsl"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #status { height: 1; padding: 0 1; background: $boost; }
    TabbedContent { height: 1fr; }
    TabPane { padding: 0; }
    #source, #diagnostics, #graph-tree, #plan-scroll {
        border: round $panel-lighten-2; height: 1fr;
    }
    #source:focus, #diagnostics:focus, #graph-tree:focus, #plan-scroll:focus {
        border: round $accent;
    }
    #source { width: 3fr; }
    #diagnostics { width: 2fr; min-width: 26; }
    PhaseBar { height: auto; padding: 0 1; }
    .empty { padding: 1 2; }
    .plan-table { margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("q", "quit_app", "quit"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("1", "spec_source", "panes", key_display="1-4"),
        Binding("2", "pane('diagnostics')", "diagnostics", show=False),
        Binding("3", "pane('graph')", "graph", show=False),
        Binding("4", "pane('plan')", "plan", show=False),
        Binding("n", "step(1)", "phase", key_display="n/p"),
        Binding("p", "step(-1)", "previous phase", show=False),
        Binding("e", "problem(1)", "error", key_display="e/E"),
        Binding("E", "problem(-1)", "previous error", show=False),
        Binding("f", "folds", "fold"),
        Binding("r", "reload", "reload"),
    ]

    def __init__(self, spec_path: str | Path):
        super().__init__()
        self.spec_path = str(spec_path)
        self.compiled: Compiled | None = None
        self.steps: list[PhaseStep] = []
        self.position = 0
        self.reloads = -1
        self.watcher = FileWatcher([self.spec_path])

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with TabbedContent(initial="spec-tab"):
            with TabPane("1·2 spec", id="spec-tab"), Horizontal():
                yield SourceView(id="source")
                yield DiagnosticList(id="diagnostics")
            with TabPane("3 graph", id="graph-tab"):
                yield GraphPane(id="graph")
            with TabPane("4 plan", id="plan-tab"):
                yield PlanPane(id="plan")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.action_reload()
        self.query_one(SourceView).focus()
        self.set_interval(POLL_SECONDS, self.poll)

    def poll(self) -> None:
        """Recompile when the spec or one of its fragment files changed on disk."""
        if self.watcher.changed():
            if not Path(self.spec_path).is_file():
                # An editor saving by rename leaves a moment with no file: keep the last view.
                self.query_one(StatusLine).update(
                    # literal, not markup
                    Text(f"{self.spec_path}: file not found — waiting for it")
                )
                return
            self.action_reload()

    def action_reload(self) -> None:
        """Run the front end again and redraw every pane in place (in a worker thread once the
        screen is up: a large spec takes a second or more to compile)."""
        if self.compiled is None:
            compiled = self.compile()
            if compiled is not None:
                self.apply(compiled)
            return
        self.compile_in_background(self.query_one(SourceView).file)

    @work(thread=True, exclusive=True, group="compile")
    def compile_in_background(self, shown: str) -> None:
        """Compile off the UI thread and hand the result back, unless a newer compile started."""
        compiled = self.compile(from_thread=True)
        if compiled is None:
            return
        # The highlighting of the sources the YAML pane may show, done here (seconds for a spec
        # of thousands of lines); `apply` finds it in the cache.
        for name in {compiled.path, shown}:
            if name in compiled.sources:
                highlighted_lines(compiled.sources[name])
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.apply, compiled)

    def compile(self, from_thread: bool = False) -> Compiled | None:
        """The front end's result for the spec, or None after reporting an internal error."""
        try:
            return compile_spec(self.spec_path)
        except Exception as error:  # a front-end bug must not take the editor session down
            message = f"internal error in nndsl (a bug): {error!r}"
            if from_thread:
                self.call_from_thread(self.notify, message, severity="error", timeout=8)
            else:
                self.notify(message, severity="error", timeout=8)
            return None

    def apply(self, compiled: Compiled) -> None:
        """Show a compile's result: every pane redrawn in place."""
        previous = self.steps[self.position] if self.steps else None
        self.compiled, self.reloads = compiled, self.reloads + 1
        self.steps = phase_steps(compiled.plan)
        self.position = find_step(self.steps, previous, self.position)
        self.watcher.watch(local_sources(self.spec_path, compiled.sources))
        self.watcher.changed()
        source = self.query_one(SourceView)
        shown = source.file if source.file in compiled.sources else compiled.path
        source.set_source(shown, compiled.sources.get(shown, ""), list(compiled.diagnostics))
        self.query_one(DiagnosticList).set_diagnostics(compiled.diagnostics, compiled.path)
        self.query_one(StatusLine).show(compiled, self.reloads)
        self.redraw_phase()

    def redraw_phase(self) -> None:
        """Redraw the graph and plan panes for the selected phase step."""
        compiled = self.compiled
        assert compiled is not None
        plan_reason = self.empty_reason(compiled, "plan")
        self.query_one(GraphPane).show(
            compiled.graph,
            compiled.plan,
            self.steps,
            self.position,
            self.empty_reason(compiled, "graph"),
            plan_reason,
        )
        self.query_one(PlanPane).show(compiled, self.steps, self.position, plan_reason)

    @staticmethod
    def empty_reason(compiled: Compiled, pane: str) -> str | None:
        """Why the graph (or plan) pane is empty, or None when it can be drawn."""
        errors, _ = counts(compiled.diagnostics)
        if compiled.plan is not None or (pane == "graph" and compiled.graph is not None):
            return None
        missing = "No graph to draw" if pane == "graph" else "No plan to show"
        cause = (
            f"the spec has {plural(errors, 'error')}" if errors else "the front end stopped early"
        )
        return (
            f"{missing}: {cause} (press 2 for the list, e to jump to the first). "
            "This pane redraws by itself when the fixed spec is saved."
        )

    def on_diagnostic_list_jump(self, message: DiagnosticList.Jump) -> None:
        self.show_diagnostic(message.diagnostic.span, focus=message.focus)

    def show_diagnostic(self, span, focus: bool) -> None:
        """Scroll the YAML view to a diagnostic's place, switching file if it lies in a fragment."""
        if span is None or self.compiled is None:
            return
        source = self.query_one(SourceView)
        if span.file != source.file and span.file in self.compiled.sources:
            source.set_source(
                span.file, self.compiled.sources[span.file], list(self.compiled.diagnostics)
            )
        source.jump(span.line, span.column)
        if focus:
            self.action_pane("source")

    def action_pane(self, name: str) -> None:
        tab, selector = PANES[name]
        self.query_one(TabbedContent).active = tab
        self.query_one(selector).focus()

    def action_spec_source(self) -> None:
        """Key 1: the spec's own YAML (back from a fragment a diagnostic pointed into)."""
        source, compiled = self.query_one(SourceView), self.compiled
        if compiled is not None and source.file != compiled.path:
            source.set_source(
                compiled.path, compiled.sources.get(compiled.path, ""), list(compiled.diagnostics)
            )
        self.action_pane("source")

    def action_step(self, delta: int) -> None:
        if not self.steps:
            self.bell()
            return
        self.position = (self.position + delta) % len(self.steps)
        self.redraw_phase()

    def action_problem(self, delta: int) -> None:
        """Highlight the next (or previous) diagnostic and show its line in the YAML."""
        diagnostics = self.query_one(DiagnosticList)
        if not diagnostics.diagnostics:
            self.notify("no errors or warnings", timeout=2)
            return
        current = diagnostics.highlighted
        count = len(diagnostics.diagnostics)
        target = (0 if delta > 0 else count - 1) if current is None else (current + delta) % count
        with diagnostics.prevent(DiagnosticList.OptionHighlighted):
            diagnostics.highlighted = target
        self.show_diagnostic(diagnostics.diagnostics[target].span, focus=True)

    def action_folds(self) -> None:
        self.query_one(NetworkTree).toggle_folds()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_app(self) -> None:
        self.exit(0)
