"""Source stage, output type: a YAML document whose every value knows where it came from.

`Node` trees (`MappingNode`, `SequenceNode`, `ScalarNode`) keep a `Span` on every value and on
every mapping key; later stages (resolve, spec) read them and report problems at exact places.
"""

from __future__ import annotations

from typing import Any

from nndsl.diagnostics import Span
from nndsl.records import Record, field, replace


class ScalarNode(Record):
    """A YAML scalar already typed (str, int, float, bool or None), with its place."""

    value: Any
    span: Span


class SequenceNode(Record):
    """A YAML sequence."""

    items: tuple[Node, ...]
    span: Span


class MappingNode(Record):
    """A YAML mapping with string keys; `key_spans` places each key itself."""

    entries: dict[str, Node]
    span: Span
    key_spans: dict[str, Span] = field(default_factory=dict)

    def get(self, key: str) -> Node | None:
        return self.entries.get(key)

    def with_entries(self, entries: dict[str, Node], key_spans: dict[str, Span]) -> MappingNode:
        return replace(self, entries=entries, key_spans=key_spans)


Node = ScalarNode | SequenceNode | MappingNode


def to_plain(node: Node) -> Any:
    """The node tree as plain Python values (dicts, lists, scalars)."""
    if isinstance(node, ScalarNode):
        return node.value
    if isinstance(node, SequenceNode):
        return [to_plain(item) for item in node.items]
    return {key: to_plain(value) for key, value in node.entries.items()}


def locate(node: Node, path: tuple[str | int, ...], key: bool = False) -> Span:
    """The span of the value at `path` (or of its key when `key`), else the nearest ancestor's.

    Paths are what pydantic reports in `ValidationError.errors()[i]["loc"]`.
    """
    current = node
    span = node.span
    for index, part in enumerate(path):
        last = index == len(path) - 1
        if isinstance(current, MappingNode) and isinstance(part, str) and part in current.entries:
            if last and key:
                return current.key_spans.get(part, current.entries[part].span)
            current = current.entries[part]
        elif (isinstance(current, SequenceNode) and isinstance(part, int)
              and 0 <= part < len(current.items)):
            current = current.items[part]
        else:
            return span
        span = current.span
    return span


class Document(Record):
    """A parsed spec file: its path, its text, and its located value tree."""

    path: str
    text: str
    root: MappingNode
