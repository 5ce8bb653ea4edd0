"""Command-line layer: diagnostics as code frames (rich), or as JSON data.

    spec.yaml:7:22: E301 unknown key `unitz` in network.layers[1]
        7 |     - {type: linear, unitz: 10}
          |                      ^^^^^
        = from: spec
        = hint: did you mean `units`?
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from nndsl.diagnostics import Diagnostic, Span


#: Characters of a source line shown around the caret; a longer line is cut to this window.
FRAME_WIDTH = 120
#: Characters of a message or hint shown; user text quoted in it (a 1 MB name) is cut.
TEXT_LIMIT = 400


def render_diagnostics(console: Console, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...],
                       sources: dict[str, str]) -> None:
    """Print each diagnostic with the YAML line it points at, a caret, its origin and its hint.

    A place inside a fragment is shown after the spec's `use:` entry that brought the fragment
    in. Every piece of user text is escaped for rich (markup and emoji codes print literally),
    lines are cut to `FRAME_WIDTH` around the caret and messages to `TEXT_LIMIT`.
    """
    for diagnostic in diagnostics:
        colour = "red" if diagnostic.severity == "error" else "yellow"
        # A warning says so in words too (colour is lost in logs and pipes); errors stay bare.
        label = diagnostic.code if diagnostic.severity == "error" else f"warning {diagnostic.code}"
        span = diagnostic.span
        first = diagnostic.included_from or span
        where = f"{first}: " if first else ""
        _print(console, f"[bold]{escape(where)}[/bold][{colour}]{escape(label)}[/{colour}] "
                        f"{escape(bounded(diagnostic.message))}")
        if diagnostic.included_from is not None:
            _frame(console, diagnostic.included_from, sources, colour)
            _print(console, f"    [dim]= in fragment:[/dim] {escape(bounded(str(span)))}")
        if span is not None:
            _frame(console, span, sources, colour)
            _print(console, f"    [dim]= from:[/dim] {escape(bounded(_origin(span.origin)))}")
        if diagnostic.hint:
            _print(console, f"    [dim]= hint:[/dim] {escape(bounded(diagnostic.hint))}")


def _print(console: Console, markup: str) -> None:
    # emoji=False: `:x:` in user text is text, not an emoji code.
    console.print(markup, highlight=False, soft_wrap=True, emoji=False)


def _frame(console: Console, span: Span, sources: dict[str, str], colour: str) -> None:
    """The source line at `span` (cut to a window around the caret) and a caret under it."""
    lines = sources.get(span.file, "").splitlines()
    if not 1 <= span.line <= len(lines):
        return
    text = lines[span.line - 1]
    width = max(1, (span.end_column - span.column) if span.end_line == span.line
                else len(text) - span.column + 1)
    shown, caret = frame_window(text, span.column - 1)
    gutter = " " * len(str(span.line))
    _print(console, f"    [dim]{span.line} |[/dim] {escape(shown)}")
    _print(console, f"    [dim]{gutter} |[/dim] {' ' * caret}[{colour}]"
                    f"{'^' * max(1, min(width, 60, len(shown) - caret))}[/{colour}]")


def frame_window(text: str, offset: int, width: int = FRAME_WIDTH) -> tuple[str, int]:
    """`text` cut to at most `width` characters (plus `…` marks) around position `offset`;
    returns the shown text and the caret's position in it. Tabs and control characters become
    spaces and `?` so the caret lines up and nothing reaches the terminal raw."""
    text = "".join(" " if char == "\t" else "?" if ord(char) < 32 or 127 <= ord(char) < 160
                   else char
                   for char in text)
    if len(text) <= width:
        return text, min(offset, len(text))
    start = max(0, min(offset - width // 3, len(text) - width))
    shown = text[start:start + width]
    caret = offset - start
    if start > 0:
        shown, caret = "…" + shown, caret + 1
    if start + width < len(text):
        shown += "…"
    return shown, caret


def bounded(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` made printable (see `printable`) with its middle cut when it is longer than `limit`
    characters."""
    if len(text) > limit:
        head, tail = text[: limit * 2 // 3], text[-(limit // 3):]
        text = f"{head} … ({len(text) - len(head) - len(tail):,} characters cut) … {tail}"
    return printable(text)


_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), *range(127, 160)) if chr(code) != "\n"}


def printable(text: str) -> str:
    """`text` with control characters written as `\\xNN`: an escape sequence in a spec (a key
    holding ESC [ 2 J) must not reach the terminal and act on it."""
    return text.translate(_CONTROL)


def literal_row(table: Any, *cells: Any, **options: Any) -> None:
    """`table.add_row` with every string cell taken literally: a rich table reads a string cell
    as markup (`[red]`), and names in a spec or a run directory are user text."""
    table.add_row(*(Text(printable(cell)) if isinstance(cell, str) else cell for cell in cells),
                  **options)


def summary_text(path: str, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> str:
    """The status line's text: `PATH: valid` or `PATH: N errors`, warnings counted apart."""
    errors = sum(item.severity == "error" for item in diagnostics)
    warnings = len(diagnostics) - errors
    counts = [f"{count} {word}{'s' if count != 1 else ''}"
              for count, word in ((errors, "error"), (warnings, "warning")) if count]
    if not errors:
        return f"{path}: valid" + (f" ({counts[0]})" if counts else "")
    return f"{path}: {', '.join(counts)}"


def _origin(origin: str) -> str:
    if origin == "spec":
        return "the spec"
    if origin == "--set":
        return "a --set override"
    if origin == "fragment":
        return "a fragment file"
    return f"stdlib fragment {origin}"


def diagnostics_json(results: list[tuple[str, tuple[Diagnostic, ...]]]) -> str:
    """`--format json`: one object per spec file with its diagnostics."""
    return json.dumps([{"file": path,
                        "valid": not any(item.severity == "error" for item in diagnostics),
                        "diagnostics": [item.to_dict() for item in diagnostics]}
                       for path, diagnostics in results], indent=2)
