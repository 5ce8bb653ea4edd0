"""Resolve stage: expanding `{block: NAME, repeat: N, name: "enc{index}", with: {...}}` entries.

Each use of a block becomes one *group* per repetition, `{group: enc1, block: NAME, layers: [...]}`,
whose layers are the block's layers with `${param}` templates filled in and names prefixed by the
group (`enc1.blstm`). A template that is a whole string (`units: ${hidden}`) takes the parameter's
value with its type and its span (so an error points at the `with:` value the user wrote);
`{index}` counts repetitions from 1 (a block used inside a block counts its own). Inside a
block, `inputs: [block_input, ...]` names the block's own input (the output of whatever precedes
it), so a block can hold a residual connection. Groups keep the network's top-level units
visible for cuts (`cuts: units`) and for folding repeated blocks in `nndsl show`.
"""

from __future__ import annotations

import re

from nndsl.diagnostics import DiagnosticList, Span, did_you_mean
from nndsl.resolve.fragments import BlockDefinition
from nndsl.source import MappingNode, Node, ScalarNode, SequenceNode

MAX_REPEAT = 1000
_WHOLE_TEMPLATE = re.compile(r"^\$\{(\w+)\}$")
_TEMPLATE = re.compile(r"\$\{(\w+)\}")
_BLOCK_KEYS = {"block", "repeat", "name", "with"}
BLOCK_INPUT = "block_input"  # in a block's `inputs:`, what the block reads (`enc1.block_input`)


def expand_layers(layers: SequenceNode, blocks: dict[str, BlockDefinition],
                  diagnostics: DiagnosticList, depth: int = 0) -> SequenceNode:
    """The layer list with every block entry replaced by its groups (recursively)."""
    expanded: list[Node] = []
    for item in layers.items:
        # A `group:` entry naming its block is one already expanded (a run's resolved spec.yaml).
        if isinstance(item, MappingNode) and "block" in item.entries \
                and "group" not in item.entries:
            expanded.extend(_expand_block_use(item, blocks, diagnostics, depth))
        elif isinstance(item, MappingNode) and isinstance(item.get("layers"), SequenceNode):
            inner = expand_layers(item.entries["layers"], blocks, diagnostics, depth)
            expanded.append(_with(item, "layers", inner))
        else:
            expanded.append(item)
    return SequenceNode(tuple(expanded), layers.span)


def _expand_block_use(use: MappingNode, blocks: dict[str, BlockDefinition],
                      diagnostics: DiagnosticList, depth: int) -> list[Node]:
    for key, key_span in use.key_spans.items():
        if key not in _BLOCK_KEYS:
            diagnostics.add("E301", f"unknown key `{key}` in a block entry", key_span,
                            did_you_mean(key, _BLOCK_KEYS) or "block entries take: block, repeat, "
                                                              "name, with")
    block_node = use.entries["block"]
    name = block_node.value if isinstance(block_node, ScalarNode) else None
    definition = blocks.get(name) if isinstance(name, str) else None
    if definition is None:
        diagnostics.add("E206", f"unknown block `{name}`", block_node.span,
                        did_you_mean(str(name), blocks) or
                        "blocks come from fragments named in `use:`, e.g. `use: [std:blocks/mlp]`")
        return []
    if depth > 20:
        diagnostics.add("E202", f"block `{name}` includes itself", block_node.span,
                        "a block cannot contain itself, directly or through other blocks")
        return []
    repeat = _repeat_count(use.get("repeat"), diagnostics)
    if repeat is None:
        return []
    arguments = _arguments(use.get("with"), definition, diagnostics)
    name_node = use.get("name")
    named = isinstance(name_node, ScalarNode) and isinstance(name_node.value, str)
    template = name_node.value if named else definition.name + ("{index}" if repeat > 1 else "")
    groups: list[Node] = []
    for index in range(1, repeat + 1):
        group_name = template.replace("{index}", str(index))
        values = {**arguments, "index": ScalarNode(index, use.span)}
        layers = SequenceNode(tuple(_substitute(layer, values, diagnostics)
                                    for layer in definition.layers.items),
                              use.span)
        layers = expand_layers(layers, blocks, diagnostics, depth + 1)
        layers = _prefix_names(layers, group_name, use.span)
        name_span = name_node.span if name_node else block_node.span
        groups.append(MappingNode(
            {"group": ScalarNode(group_name, name_span),
             "block": ScalarNode(definition.name, block_node.span), "layers": layers},
            use.span, {"group": name_span, "block": block_node.span, "layers": use.span}))
    return groups


def _repeat_count(node: Node | None, diagnostics: DiagnosticList) -> int | None:
    if node is None:
        return 1
    value = node.value if isinstance(node, ScalarNode) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEAT:
        diagnostics.add("E208", f"`repeat` must be a whole number from 1 to {MAX_REPEAT}, not "
                                f"{value!r}",
                        node.span, "for example: repeat: 4")
        return None
    return value


def _arguments(node: Node | None, definition: BlockDefinition,
               diagnostics: DiagnosticList) -> dict[str, Node]:
    """The block's parameter values: its defaults, overridden by the `with:` mapping."""
    values: dict[str, Node] = dict(definition.params.entries)
    if node is None:
        return values
    if not isinstance(node, MappingNode):
        diagnostics.add("E303", "`with:` must be a mapping of block parameters", node.span,
                        "for example: with: {hidden: 320}")
        return values
    for key, value in node.entries.items():
        if key not in definition.params.entries:
            known = ", ".join(definition.params.entries) or "none"
            diagnostics.add("E207", f"block `{definition.name}` has no parameter `{key}`",
                            node.key_spans.get(key, value.span),
                            did_you_mean(key, definition.params.entries)
                            or f"its parameters: {known}")
            continue
        values[key] = value
    return values


def _substitute(node: Node, values: dict[str, Node], diagnostics: DiagnosticList) -> Node:
    if isinstance(node, SequenceNode):
        return SequenceNode(tuple(_substitute(item, values, diagnostics) for item in node.items),
                            node.span)
    if isinstance(node, MappingNode):
        # A block used inside a block counts its own repetitions: its `name`'s {index} is its own.
        inner_values = {key: value for key, value in values.items() if key != "index"}
        entries = {key: _substitute(value, inner_values if key == "name" and "block" in node.entries
                                    else values, diagnostics)
                   for key, value in node.entries.items()}
        return node.with_entries(entries, dict(node.key_spans))
    if not isinstance(node.value, str):
        return node
    whole = _WHOLE_TEMPLATE.match(node.value)
    if whole:
        replacement = values.get(whole.group(1))
        if replacement is None:
            _undefined(whole.group(1), node.span, values, diagnostics)
            return node
        return replacement
    text = (node.value.replace("{index}", str(values["index"].value)) if "index" in values
            else node.value)

    def fill(match: re.Match[str]) -> str:
        replacement = values.get(match.group(1))
        if not isinstance(replacement, ScalarNode):
            _undefined(match.group(1), node.span, values, diagnostics)
            return match.group(0)
        return str(replacement.value)

    return ScalarNode(_TEMPLATE.sub(fill, text), node.span)


def _undefined(name: str, span: Span, values: dict[str, Node], diagnostics: DiagnosticList) -> None:
    diagnostics.add("E209", f"template `${{{name}}}` names no block parameter", span,
                    did_you_mean(name, values) or "declare it under the block's `params:`")


def _prefix_names(layers: SequenceNode, group: str, span: Span) -> SequenceNode:
    """Layer names and local `inputs:` references inside a group, prefixed with the group name,
    through nested groups too (a block made of blocks: `stage1.res2.conv_a`)."""
    local = _defined_names(layers) | {BLOCK_INPUT}  # block_input: the block's own input
    return _prefixed(layers, group, local)


def _defined_names(layers: SequenceNode) -> set[str]:
    """Names of the layers and groups in `layers`, nested ones included, and each nested group's
    `G.block_input`."""
    names: set[str] = set()
    for item in layers.items:
        if not isinstance(item, MappingNode):
            continue
        for key in ("name", "group"):
            name = item.get(key)
            if isinstance(name, ScalarNode) and isinstance(name.value, str):
                names.add(name.value)
                if key == "group":
                    names.add(f"{name.value}.{BLOCK_INPUT}")
        inner = item.get("layers")
        if isinstance(inner, SequenceNode):
            names |= _defined_names(inner)
    return names


def _prefixed(layers: SequenceNode, group: str, local: set[str]) -> SequenceNode:
    prefixed: list[Node] = []
    for item in layers.items:
        if not isinstance(item, MappingNode):
            prefixed.append(item)
            continue
        for key in ("name", "group"):
            name = item.get(key)
            if isinstance(name, ScalarNode) and isinstance(name.value, str):
                item = _with(item, key, ScalarNode(f"{group}.{name.value}", name.span))
        inputs = item.get("inputs")
        if isinstance(inputs, SequenceNode):
            renamed = tuple(ScalarNode(f"{group}.{ref.value}", ref.span)
                            if isinstance(ref, ScalarNode) and ref.value in local else ref
                            for ref in inputs.items)
            item = _with(item, "inputs", SequenceNode(renamed, inputs.span))
        inner = item.get("layers")
        if isinstance(inner, SequenceNode):
            item = _with(item, "layers", _prefixed(inner, group, local))
        prefixed.append(item)
    return SequenceNode(tuple(prefixed), layers.span)


def _with(node: MappingNode, key: str, value: Node) -> MappingNode:
    entries = dict(node.entries)
    entries[key] = value
    key_spans = dict(node.key_spans)
    key_spans.setdefault(key, value.span)
    return node.with_entries(entries, key_spans)
