"""Resolve stage: Document -> Resolved (fragments merged, blocks expanded, overrides applied).

Entry point: `resolve(document, overrides)`. Values keep their spans, so later diagnostics say
whether a value came from the spec, a `std:` fragment, a user fragment, or a `--set` override.
"""

from __future__ import annotations

from nndsl.diagnostics import DiagnosticList
from nndsl.records import Record
from nndsl.resolve.blocks import expand_layers
from nndsl.resolve.fragments import BlockDefinition, load_fragments
from nndsl.resolve.library import locate_fragment, stdlib_names
from nndsl.resolve.merge import merge_under
from nndsl.resolve.overrides import apply_overrides, parse_overrides
from nndsl.source import Document, MappingNode, SequenceNode

__all__ = ["Resolved", "resolve", "locate_fragment", "stdlib_names", "BlockDefinition"]


class Resolved(Record):
    """A spec with everything it refers to pulled in; still untyped values with spans."""

    path: str
    root: MappingNode
    sources: dict[str, str]
    blocks: dict[str, BlockDefinition]


def resolve(document: Document, overrides: list[str], diagnostics: DiagnosticList) -> Resolved:
    """Merge fragments under the spec, apply `--set` overrides, expand blocks into groups."""
    fragments = load_fragments(document.root, document.path, diagnostics)
    root: MappingNode = document.root
    base: MappingNode | None = None
    for layer in fragments.layers_under:
        base = layer if base is None else merge_under(base, layer)  # type: ignore[assignment]
    if base is not None:
        root = merge_under(base, root)  # type: ignore[assignment]
    parsed = parse_overrides(overrides, diagnostics)
    root = apply_overrides(root, parsed, diagnostics)
    network = root.get("network")
    if isinstance(network, MappingNode) and isinstance(network.get("layers"), SequenceNode):
        layers = expand_layers(network.entries["layers"], fragments.blocks, diagnostics)
        entries = dict(network.entries)
        entries["layers"] = layers
        network = network.with_entries(entries, dict(network.key_spans))
        entries = dict(root.entries)
        entries["network"] = network
        root = root.with_entries(entries, dict(root.key_spans))
    sources = {document.path: document.text, **fragments.sources}
    # Every argument, parsed or not, so a malformed one (E203, E101) gets its code frame too.
    sources.update({f"--set #{number}": text for number, text in enumerate(overrides, start=1)})
    return Resolved(document.path, root, sources, fragments.blocks)
