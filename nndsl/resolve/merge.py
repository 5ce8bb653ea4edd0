"""Resolve stage: the one rule for layering spec values.

Fragments (presets, schedules) lie *underneath* the user's spec: mappings merge key by key,
recursively; any other value (a list, a scalar) from the upper layer replaces the lower one
whole. Every value keeps the span of the file it came from, so diagnostics name the fragment or
the spec that set it.
"""

from __future__ import annotations

from nndsl.source import MappingNode, Node


def merge_under(lower: Node, upper: Node) -> Node:
    """`upper` laid over `lower`.

    >>> from nndsl.diagnostics import Span
    >>> from nndsl.source import ScalarNode, to_plain
    >>> s = Span("f", 1, 1, 1, 2)
    >>> a = MappingNode({"x": ScalarNode(1, s), "y": ScalarNode(2, s)}, s)
    >>> b = MappingNode({"y": ScalarNode(3, s)}, s)
    >>> to_plain(merge_under(a, b))
    {'x': 1, 'y': 3}
    """
    if not (isinstance(lower, MappingNode) and isinstance(upper, MappingNode)):
        return upper
    entries = dict(lower.entries)
    key_spans = dict(lower.key_spans)
    for key, value in upper.entries.items():
        entries[key] = merge_under(entries[key], value) if key in entries else value
        key_spans[key] = upper.key_spans.get(key, value.span)
    return upper.with_entries(entries, key_spans)
