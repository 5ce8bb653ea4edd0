"""Diagnostics: every user-caused problem, as data.

Every stage from source to plan reports problems as `Diagnostic` records (code, message, span,
hint, origin) instead of raising on the first one; a stage that cannot go on raises `SpecError`
carrying all diagnostics collected so far. Rendering (code frames, colours) lives in the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from nndsl.records import Record, replace

Severity = Literal["error", "warning"]


class Span(Record):
    """A place in a source file: 1-based line and column, end exclusive.

    `origin` says where the value came from: "spec" (the file the user named), "std:<name>" (a
    stdlib fragment), "fragment" (a user fragment file), or "--set" (a command-line override).
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    origin: str = "spec"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


#: Where a spec path (keys and list positions from the top of the resolved document) was written:
#: the span of its value, or None where nothing was written (a default). Every stage from check
#: to plan receives one in its `StageContext`, so that a problem points at the user's text.
Locator = Callable[[tuple[str | int, ...]], Span | None]


class Diagnostic(Record):
    """One problem found in a spec.

    Args:
        code: a stable code from `nndsl.codes.CODES` such as "E301".
        message: what is wrong, naming the thing and the value.
        span: where it is; None only for problems that have no place (an empty command line).
        hint: what to do about it ("did you mean `hidden`?").
        severity: "error" stops the pipeline; "warning" does not.
        included_from: for a place inside a fragment, the spec's `use:` entry that brought the
            fragment in (shown first, so a spec cannot make an error start in another file).
    """

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: Severity = "error"
    included_from: Span | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain data for `--format json`."""
        span = self.span
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "file": span.file if span else None,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None,
            "origin": span.origin if span else None,
            "included_from": str(self.included_from) if self.included_from else None,
        }


@dataclass
class DiagnosticList:
    """A collector passed through the stages; stages append and carry on where they can."""

    items: list[Diagnostic] = field(default_factory=list)
    included_from: dict[str, Span] = field(default_factory=dict)  # fragment file -> `use:` entry

    def add(
        self,
        code: str,
        message: str,
        span: Span | None = None,
        hint: str | None = None,
        severity: Severity = "error",
    ) -> None:
        self.items.append(Diagnostic(code, message, span, hint, severity))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(item.severity == "error" for item in self.items)

    def sorted(self) -> list[Diagnostic]:
        """Diagnostics ordered by file and position (a fragment's at the `use:` entry that brought
        it in, which they carry as `included_from`), positionless ones last."""
        items = [item if item.span is None or item.span.file not in self.included_from
                 else replace(item, included_from=self.included_from[item.span.file])
                 for item in self.items]

        def key(item: Diagnostic) -> tuple[int, str, int, int, int, int]:
            if item.span is None:
                return (1, "", 0, 0, 0, 0)
            first = item.included_from or item.span
            return (0, first.file, first.line, first.column, item.span.line, item.span.column)

        return sorted(merge_copies(items), key=key)


def merge_copies(items: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per mistake: a value inside a repeated block (or a fragment used several
    times) is checked in every copy, giving the same code, place and hint with messages that
    differ only in the copy's index or name; those merge into the first, which says how many
    copies the value applies to."""
    import re

    groups: dict[tuple, list[Diagnostic]] = {}
    for item in items:
        if item.span is None:
            groups[(id(item),)] = [item]
            continue
        key = (item.code, item.span, item.hint, item.severity, re.sub(r"\d+", "#", item.message))
        groups.setdefault(key, []).append(item)
    merged = []
    for copies in groups.values():
        first = copies[0]
        if len(copies) > 1:
            first = replace(first, message=f"{first.message} (applies to {len(copies)} copies)")
        merged.append(first)
    return merged


class SpecError(Exception):
    """Raised when a stage cannot continue; carries every diagnostic found so far."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        summary = f"{first.code}: {first.message}" if first else "invalid spec"
        more = len(self.diagnostics) - 1
        super().__init__(summary + (f" (and {more} more)" if more > 0 else ""))


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A "did you mean" hint for an unknown name, or None when nothing is close.

    >>> did_you_mean("hiden", ["hidden", "layers"])
    'did you mean `hidden`?'
    """
    import difflib  # only error messages need it: kept off the start-up path of a valid spec

    matches = difflib.get_close_matches(str(word), sorted(set(choices)), n=3, cutoff=0.6)
    if not matches:
        return None
    if len(matches) == 1:
        return f"did you mean `{matches[0]}`?"
    return "did you mean " + ", ".join(f"`{match}`"
                                       for match in matches[:-1]) + f" or `{matches[-1]}`?"


@dataclass(frozen=True)
class StageContext:
    """What the stages after `spec` (check, ir, plan) receive besides their input.

    `locate` turns a spec path into the place the user wrote it; `diagnostics` collects every
    problem found (stages append and carry on where they can, rather than raise). One context is
    made per compilation, by `nndsl.api.compile_spec`.
    """

    locate: Locator
    diagnostics: DiagnosticList
