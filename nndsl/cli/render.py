"""Command-line layer: diagnostics as code frames (rich), or as JSON data.

    spec.yaml:7:22: E301 unknown key `unitz` in network.layers[1]
        7 |     - {type: linear, unitz: 10}
          |                      ^^^^^
        = from: spec
        = hint: did you mean `units`?
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from nndsl.diagnostics import Diagnostic


def render_diagnostics(console: Console, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...],
                       sources: dict[str, str]) -> None:
    """Print each diagnostic with the YAML line it points at, a caret, its origin and its hint."""
    for diagnostic in diagnostics:
        colour = "red" if diagnostic.severity == "error" else "yellow"
        # A warning says so in words too (colour is lost in logs and pipes); errors stay bare.
        label = diagnostic.code if diagnostic.severity == "error" else f"warning {diagnostic.code}"
        span = diagnostic.span
        where = f"{span}: " if span else ""
        console.print(f"[bold]{escape(where)}[/bold][{colour}]{label}[/{colour}] "
                      f"{escape(diagnostic.message)}", highlight=False, soft_wrap=True)
        if span is not None:
            lines = sources.get(span.file, "").splitlines()
            if 1 <= span.line <= len(lines):
                text = lines[span.line - 1]
                width = max(1, (span.end_column - span.column) if span.end_line == span.line else len(text) - span.column + 1)
                gutter = " " * len(str(span.line))
                console.print(f"    [dim]{span.line} |[/dim] {escape(text)}", highlight=False, soft_wrap=True)
                console.print(f"    [dim]{gutter} |[/dim] {' ' * (span.column - 1)}[{colour}]{'^' * min(width, 60)}[/{colour}]",
                              highlight=False, soft_wrap=True)
            console.print(f"    [dim]= from:[/dim] {escape(_origin(span.origin))}", highlight=False)
        if diagnostic.hint:
            console.print(f"    [dim]= hint:[/dim] {escape(diagnostic.hint)}", highlight=False, soft_wrap=True)


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
    return json.dumps([{"file": path, "valid": not any(item.severity == "error" for item in diagnostics),
                        "diagnostics": [item.to_dict() for item in diagnostics]}
                       for path, diagnostics in results], indent=2)
