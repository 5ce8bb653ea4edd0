"""Resolve stage: `--set path=value` command-line overrides.

A path is dotted (`optimizer.lr`, `network.layers.2.units`; integers index lists); the value is a
YAML scalar or flow collection (`0.5`, `true`, `[1, 2]`, `{patience: 3}`), typed as YAML types it.
Overrides apply after fragments are merged, so they win over everything, and their values carry
the origin "--set" into every diagnostic. A value replaces whatever the path held, whole: a
mapping (`optimizer={type: sgd, lr: 0.3}`) is not merged with the preset's keys, which belong to
the optimiser it replaces; to change one key, set that key (`optimizer.lr=0.3`).
"""

from __future__ import annotations

from nndsl.diagnostics import DiagnosticList, Span
from nndsl.records import Record
from nndsl.source import MappingNode, Node, SequenceNode
from nndsl.source.yaml_loader import parse_yaml


class Override(Record):
    """One parsed `--set` argument."""

    text: str
    path: tuple[str | int, ...]
    value: Node
    file: str


def parse_overrides(arguments: list[str], diagnostics: DiagnosticList) -> list[Override]:
    """Parse `--set` arguments; malformed ones become E203 diagnostics.

    Each override is its own pseudo-file named `--set #N` whose single line is the argument, so
    code frames can show it.
    """
    overrides = []
    for number, text in enumerate(arguments, start=1):
        file = f"--set #{number}"
        path_text, equals, value_text = text.partition("=")
        path = tuple(int(part) if part.isdigit() else part for part in path_text.strip().split("."))
        if not equals or not path_text.strip() or any(part == "" for part in path):
            diagnostics.add("E203", f"`--set {text}` is not of the form `path.to.key=value`",
                            Span(file, 1, 1, 1, len(text) + 1, "--set"),
                            "for example: --set optimizer.lr=0.5")
            continue
        if path[0] == "use":
            # Fragments are read before overrides apply; a `use` override could only be ignored.
            diagnostics.add("E204", f"`--set {text}`: `use` cannot be set from the command line",
                            Span(file, 1, 1, 1, len(path_text) + 1, "--set"),
                            "fragments are read before overrides apply: edit the spec's `use:` "
                            "list")
            continue
        offset = len(path_text) + 1
        value = parse_yaml(" " * offset + value_text if value_text.strip()
                           else " " * offset + "null", file, "--set", diagnostics)
        if value is None:
            continue
        overrides.append(Override(text, path, value, file))
    return overrides


def apply_overrides(root: MappingNode, overrides: list[Override],
                    diagnostics: DiagnosticList) -> MappingNode:
    """`root` with every override applied in order; paths that cannot apply give E204."""
    for override in overrides:
        updated = _set(root, override.path, override, diagnostics)
        if isinstance(updated, MappingNode):
            root = updated
    return root


def _set(node: Node, path: tuple[str | int, ...], override: Override,
         diagnostics: DiagnosticList) -> Node | None:
    head, rest = path[0], path[1:]
    key_span = Span(override.file, 1, 1, 1, len(override.text) + 1, "--set")
    if isinstance(node, MappingNode) and isinstance(head, str):
        child = node.entries.get(head)
        if rest:
            base = child if child is not None else MappingNode({}, override.value.span)
            new_child = _set(base, rest, override, diagnostics)
            if new_child is None:
                return None
        else:
            new_child = override.value
        entries = dict(node.entries)
        key_spans = dict(node.key_spans)
        entries[head] = new_child
        key_spans[head] = key_span
        return node.with_entries(entries, key_spans)
    if isinstance(node, SequenceNode) and isinstance(head, int):
        if head >= len(node.items):
            diagnostics.add("E204", f"`--set {override.text}`: index {head} is past the end of a "
                            f"list of {len(node.items)}", key_span,
                            f"use an index below {len(node.items)}")
            return None
        new_child = _set(node.items[head], rest, override, diagnostics) if rest else override.value
        if new_child is None:
            return None
        items = list(node.items)
        items[head] = new_child
        return SequenceNode(tuple(items), node.span)
    kind = ("a list" if isinstance(node, SequenceNode)
            else "a mapping" if isinstance(node, MappingNode) else "a single value")
    diagnostics.add("E204", f"`--set {override.text}`: `{head}` cannot be set inside {kind}",
                    key_span,
                    "list items are addressed by number (layers.0.units), mapping keys by name")
    return None
