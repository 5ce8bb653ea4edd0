"""TUI: the spec's YAML with line numbers, error and warning marks, and a cursor line.

In: a file name, its text and the diagnostics that point into it. Out: a scrollable,
keyboard-driven view (textual's line API, so a long spec costs only the visible lines). The
gutter marks a line `✗` (an error starts there) or `!` (a warning); the spans themselves are
underlined. `jump(line, column)` moves the cursor to a diagnostic and scrolls it into view.
Setting new text for the same file keeps the cursor and scroll position (live reload).
"""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nndsl.cli.render import printable
from nndsl.diagnostics import Diagnostic

ERROR_STYLE = Style(color="red", bold=True)
WARNING_STYLE = Style(color="yellow", bold=True)
CURSOR_STYLE = Style(bgcolor="grey23")


@lru_cache(maxsize=8)
def highlighted_lines(text: str) -> tuple[Text, ...]:
    """The YAML text highlighted, one `Text` per line (never modified: callers copy a line
    before styling it). Cached, so that the TUI's compile worker can do this work off the UI
    thread (seconds for a spec of thousands of lines) and `set_source` finds it done."""
    highlighted = Syntax("", "yaml", theme="ansi_dark").highlight(text.expandtabs(4))
    lines = list(highlighted.split("\n", allow_blank=True))
    if lines and not lines[-1].plain and text.endswith("\n"):
        lines.pop()
    return tuple(lines) or (Text(""),)


class SourceView(ScrollView, can_focus=True):
    """A read-only YAML viewer with a cursor line; `file` names what it shows."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "up", show=False),
        Binding("down,j", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown,space", "page(1)", "page down", show=False),
        Binding("left,h", "scroll_left", "scroll left", show=False),
        Binding("right,l", "scroll_right", "scroll right", show=False),
        Binding("home,g", "cursor_to(1)", "first line", show=False),
        Binding("end,G", "cursor_to(-1)", "last line", show=False),
    ]

    cursor_line: reactive[int] = reactive(1)

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.file = ""
        self.lines: list[Text] = []
        self.marks: dict[int, Style] = {}

    def set_source(self, file: str, text: str, diagnostics: list[Diagnostic]) -> None:
        """Show `text`; for the same file as before, cursor and scroll position stay."""
        same_file = file == self.file
        self.file = file
        self.lines = list(highlighted_lines(text))  # shared with the cache: copied before styling
        self.marks = {}
        copied: set[int] = set()
        for diagnostic in diagnostics:
            span = diagnostic.span
            if span is None or span.file != file or not 1 <= span.line <= len(self.lines):
                continue
            style = ERROR_STYLE if diagnostic.severity == "error" else WARNING_STYLE
            if self.marks.get(span.line) != ERROR_STYLE:
                self.marks[span.line] = style
            if span.line not in copied:
                self.lines[span.line - 1] = self.lines[span.line - 1].copy()
                copied.add(span.line)
            line = self.lines[span.line - 1]
            end = span.end_column if span.end_line == span.line else len(line.plain) + 1
            line.stylize(
                Style(underline=True, color=style.color), span.column - 1, max(end - 1, span.column)
            )
        width = max(len(line.plain) for line in self.lines) + self.gutter_width + 1
        self.virtual_size = Size(width, len(self.lines))
        if not same_file:
            self.scroll_to(0, 0, animate=False)
            self.cursor_line = 1
        self.cursor_line = min(self.cursor_line, len(self.lines))
        self.refresh()
        self._update_title()

    @property
    def gutter_width(self) -> int:
        """Digits of the last line number, a mark column and a rule: ` 12 ✗│`."""
        return len(str(len(self.lines))) + 4

    def jump(self, line: int, column: int = 1) -> None:
        """Put the cursor on `line` and scroll so it sits a third of the way down the view."""
        self.cursor_line = max(1, min(line, len(self.lines)))
        top = max(0, self.cursor_line - 1 - self.scrollable_content_region.height // 3)
        self.scroll_to(x=0, y=top, animate=False)

    def render_line(self, y: int) -> Strip:
        index = y + round(self.scroll_offset.y)
        if index >= len(self.lines):
            return Strip.blank(self.size.width, self.rich_style)
        number = index + 1
        mark = self.marks.get(number)
        digits = len(str(len(self.lines)))
        gutter = Text(f" {number:>{digits}} ", style="dim")
        gutter.append("✗" if mark == ERROR_STYLE else "!" if mark else " ", style=mark or "")
        gutter.append("│", style="dim")
        # The gutter stays put when the text scrolls sideways.
        body = self.lines[index][round(self.scroll_offset.x) :]
        strip = Strip(list(Text.assemble(gutter, " ", body).render(self.app.console)))
        strip = strip.extend_cell_length(self.size.width).crop(0, self.size.width)
        if number == self.cursor_line:
            strip = strip.apply_style(CURSOR_STYLE if self.has_focus else Style(bgcolor="grey15"))
        return strip.apply_style(self.rich_style)

    def watch_cursor_line(self, old: int, new: int) -> None:
        self.refresh()
        self._update_title()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def _update_title(self) -> None:
        errors = sum(style == ERROR_STYLE for style in self.marks.values())
        self.border_title = Text(printable(self.file))  # a file name is literal text, not markup
        self.border_subtitle = (
            f"{errors} ✗ · " if errors else ""
        ) + f"line {self.cursor_line}/{len(self.lines)}"

    def _keep_cursor_visible(self) -> None:
        height = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_offset.y)
        if self.cursor_line - 1 < top:
            self.scroll_to(y=self.cursor_line - 1, animate=False)
        elif self.cursor_line - 1 >= top + height:
            self.scroll_to(y=self.cursor_line - height, animate=False)

    def action_cursor(self, delta: int) -> None:
        self.cursor_line = max(1, min(self.cursor_line + delta, len(self.lines)))
        self._keep_cursor_visible()

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_cursor_to(self, line: int) -> None:
        self.cursor_line = len(self.lines) if line < 0 else line
        self._keep_cursor_visible()
