"""Command-line layer: terminal output that imports rich only when something needs it.

`nndsl validate` on a valid spec prints one status line; importing rich's console costs a
noticeable share of the command's start-up, so the consoles the commands receive create their
rich `Console` on first use, and `status_line` writes that one line without it. Colour follows
the conventions rich follows: NO_COLOR turns it off, FORCE_COLOR on, else a terminal gets it.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

_COLOURS = {"green": "32", "red": "31", "yellow": "33"}


def _wants_colour(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM", "") in ("dumb", "unknown"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class LazyConsole:
    """Stands in for `rich.console.Console(**options)`; the real one is made on first use.

    Attribute access (`print`, `print_json`, `width`, ...) goes to the rich console. The
    stream is looked up at each write (as rich does with no `file`), so pytest's capture works.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    @property
    def rich(self) -> Any:
        """The rich `Console` behind this one (created now if it does not exist yet)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich, name)

    def status_line(self, mark: str, colour: str, text: str) -> None:
        """Print `mark text` with the mark coloured (green/red/yellow); `text` is taken
        literally."""
        if self._console is not None:
            from rich.markup import escape

            self._console.print(f"[{colour}]{mark}[/{colour}] {escape(text)}", soft_wrap=True)
            return
        stream = sys.stderr if self._options.get("stderr") else sys.stdout
        if _wants_colour(stream):
            mark = f"\x1b[{_COLOURS[colour]}m{mark}\x1b[0m"
        stream.write(f"{mark} {text}\n")
        stream.flush()
