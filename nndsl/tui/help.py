"""TUI: the help screen (`?`) — every key, what the panes show, what the colours mean.

In: nothing. Out: a modal screen closed by `?`, `escape` or `q`. The key list is written out
here (not generated from the bindings) so that it can group keys and explain the pane-specific
ones, which the footer does not show.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from nndsl.tui.panes import STATE_MARKS, STATE_STYLES

KEYS = (
    (
        "everywhere",
        (
            ("1 2 3 4", "spec YAML · diagnostics · graph · plan (1 also leaves a fragment file)"),
            ("tab / shift+tab", "next / previous pane"),
            ("n / p", "next / previous phase (a top-down search steps through its cuts)"),
            ("e / E", "jump to the next / previous error or warning"),
            ("r", "re-read the spec now (it also reloads by itself when saved)"),
            ("?", "this help"),
            ("q", "quit"),
        ),
    ),
    (
        "YAML",
        (
            ("↑ ↓ j k", "move the cursor line"),
            ("pgup pgdn home end", "page, first and last line"),
            ("← → h l", "scroll long lines sideways"),
        ),
    ),
    (
        "diagnostics",
        (
            ("↑ ↓", "move between diagnostics; the YAML follows"),
            ("enter", "go to the diagnostic's line in the YAML"),
        ),
    ),
    (
        "graph",
        (
            ("↑ ↓", "move"),
            ("space / enter", "fold or unfold a repeated block or unit"),
            ("f", "unfold (or fold) every repeated block"),
        ),
    ),
    ("plan", (("↑ ↓ pgup pgdn", "scroll"),)),
)


def help_text() -> Table:
    """The help as one table: key groups, then the graph legend."""
    table = Table(show_header=False, box=None, padding=(0, 1), expand=True)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(ratio=1)
    for section, keys in KEYS:
        table.add_row(Text(section, style="bold underline"), "")
        for key, meaning in keys:
            table.add_row(key, meaning)
        table.add_row("", "")
    table.add_row(Text("graph colours", style="bold underline"), "")
    meanings = {
        "trainable": "trained in the selected phase",
        "frozen": "kept fixed (not in the optimiser)",
        "re-init": "re-initialised, then trained",
    }
    for state, meaning in meanings.items():
        table.add_row(Text(f"{STATE_MARKS[state]} {state}", style=STATE_STYLES[state]), meaning)
    table.add_row(Text("── cut C1 ──", style="cyan"), "a cut: extractor below, classifier above")
    table.add_row("", "")
    table.add_row(Text("live", style="bold underline"), "")
    table.add_row("", "Edit the spec in any editor; the panes update within a second of saving.")
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and legend over the app; any of `?`, `escape`, `q` closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 90; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "close", "close help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "nndsl tui — help"
            scroll.border_subtitle = "? / esc / q to close"
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
