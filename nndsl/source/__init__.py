"""Source stage: YAML text -> `Document` (values with source positions).

Entry point: `read_document(path)` / `parse_document(text, path)`.
"""

from __future__ import annotations

from pathlib import Path

from nndsl.diagnostics import DiagnosticList, SpecError, Span
from nndsl.source.document import (Document, MappingNode, Node, ScalarNode, SequenceNode, locate,
                                   to_plain)
from nndsl.source.yaml_loader import parse_yaml

__all__ = [
    "Document", "MappingNode", "Node", "ScalarNode", "SequenceNode",
    "locate", "to_plain", "parse_document", "read_document", "read_text",
]


def read_text(path: Path, origin: str, diagnostics: DiagnosticList,
              used_at: Span | None = None) -> str | None:
    """The text of `path`, or None with an E107 diagnostic (placed at `used_at` if given)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        span = used_at or Span(str(path), 1, 1, 1, 2, origin)
        if isinstance(error, UnicodeDecodeError):
            reason = f"it is not UTF-8 text (byte {error.object[error.start]:#04x})"
            hint = "save the file as UTF-8"
            if used_at is None:  # point at the offending byte itself
                line = error.object.count(b"\n", 0, error.start) + 1
                column = error.start - error.object.rfind(b"\n", 0, error.start)
                span = Span(str(path), line, column, line, column + 1, origin)
        else:
            reason = error.strerror or str(error)
            hint = "check the path; relative paths are relative to the file that names them"
        diagnostics.add("E107", f"cannot read `{path}`: {reason}", span, hint)
        return None


def parse_document(text: str, path: str, diagnostics: DiagnosticList,
                   origin: str = "spec") -> Document | None:
    """Parse spec text; the top level must be a mapping (E103)."""
    root = parse_yaml(text, path, origin, diagnostics)
    if root is None:
        return None
    if not isinstance(root, MappingNode):
        diagnostics.add("E103", "the document is not a mapping of sections", root.span,
                        "a spec is a mapping such as `nndsl: 1`, `network: ...`")
        return None
    return Document(path, text, root)


def read_document(path: Path | str, origin: str = "spec") -> Document:
    """Read and parse a spec file; raises `SpecError` with every problem found."""
    diagnostics = DiagnosticList()
    path = Path(path)
    text = read_text(path, origin, diagnostics)
    document = parse_document(text, str(path), diagnostics, origin) if text is not None else None
    if document is None or diagnostics.has_errors:
        raise SpecError(diagnostics.sorted())
    return document
