"""Spec stage: Resolved -> Spec, turning pydantic's errors into located diagnostics.

Each pydantic error's `loc` is walked through the located value tree to find the YAML line and
column; its kind becomes a diagnostic code (unknown key E301, missing E302, type E303, range
E304, choice E305, ...); unknown keys and choices get "did you mean" hints from the model that
rejected them.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from nndsl.diagnostics import DiagnosticList, Span, did_you_mean
from nndsl.layers import LAYERS
from nndsl.source import MappingNode, Node, ScalarNode, SequenceNode, to_plain
from nndsl.spec.root import Spec
from nndsl.spec.unions import collapse_unions

_CODES = {
    "extra_forbidden": "E301", "missing": "E302",
    "greater_than": "E304", "greater_than_equal": "E304", "less_than": "E304",
    "less_than_equal": "E304", "too_short": "E304", "too_long": "E304", "ensemble_k": "E410",
    "literal_error": "E305", "enum": "E305", "union_tag_invalid": "E305",
    "union_tag_not_found": "E302",
    "unknown_layer": "E306", "budget": "E307", "version": "E308", "size_too_large": "E309",
    "unknown_source": "E310", "selector": "E311", "value_error": "E311", "simple_name": "E312",
    "ensemble_option": "E425", "batch_frames_and_size": "E348", "class_repeated": "E345",
    "slot_written_twice": "E346", "relabel_without_classes": "E347",
}
_SKIPPED_LOC_PARTS = {"params", "options", "layer", "group"}


def load_spec(root: MappingNode, diagnostics: DiagnosticList,
              context: dict[str, Any] | None = None) -> Spec | None:
    """Validate the resolved tree into a `Spec`; None (with diagnostics) when it is invalid."""
    plain = to_plain(root)
    try:
        return Spec.model_validate(plain, context=context or {})
    except ValidationError as error:
        items = collapse_unions(error.errors(include_url=False))
        reported = DiagnosticList()
        for item in items:
            if not _is_cascade(item, items):
                _report(item, root, plain, reported)
        # A value an earlier stage already rejected (a refused tag, an undefined template) fails
        # validation too; saying so again at the same place would only repeat the first error.
        earlier = {_start(diagnostic.span) for diagnostic in diagnostics.items
                   if diagnostic.severity == "error"}
        diagnostics.extend(item for item in reported.items if _start(item.span) not in earlier)
        return None


def _is_cascade(item: Any, items: list[Any]) -> bool:
    """An error that only follows from another one in `items`.

    A list is reported too short when some of its items failed (pydantic counts valid ones), and
    a key is reported missing when it was misspelt (the unknown key's hint names it already).
    """
    loc = tuple(item["loc"])
    if item["type"] == "too_short":
        return any(len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc
                   for other in items)
    if item["type"] == "missing" and loc:
        import difflib  # only on the error path

        misspelt = [str(other["loc"][-1]) for other in items
                    if other["type"] == "extra_forbidden" and tuple(other["loc"][:-1]) == loc[:-1]]
        return any(str(loc[-1]) in difflib.get_close_matches(key, [str(loc[-1])], n=1, cutoff=0.6)
                   for key in misspelt)
    return False


def _start(span: Span | None) -> tuple[str, int, int] | None:
    return (span.file, span.line, span.column) if span else None


def _report(item: Any, root: MappingNode, plain: Any, diagnostics: DiagnosticList) -> None:
    kind = item["type"]
    loc = tuple(item["loc"])
    path = _path_text(loc, root)
    code = _CODES.get(kind, "E303" if kind.endswith(("_type", "_parsing")) or kind in (
        "model_attributes_type", "dataclass_type", "is_instance_of") else "E311")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1], plain)
        parent = _path_text(loc[:-1], root, missing_key=False) or "the spec"
        diagnostics.add(code, f"unknown key `{key}` in {parent}",
                        _locate(root, loc, key=True),
                        did_you_mean(key, allowed)
                        or (f"allowed here: {', '.join(sorted(allowed))}" if allowed else None))
        return
    if kind == "union_mismatch":
        choices = item["ctx"]["choices"]
        hint = did_you_mean(str(item["input"]), choices) if isinstance(item["input"], str) else None
        diagnostics.add("E305" if hint else "E303", f"`{path}`: {item['msg']}", _locate(root, loc),
                        hint)
        return
    if kind == "missing":
        diagnostics.add(code, f"`{path}` is required", _locate(root, loc[:-1], key=False),
                        f"add `{loc[-1]}:`" if loc else None)
        return
    message = item["msg"]
    hint = None
    if kind == "union_tag_invalid":
        context = item.get("ctx") or {}
        field_name = str(context.get("discriminator", "type")).strip("'")
        loc = (*loc, field_name)
        path = f"{path}.{field_name}"
        item = {**item, "input": context.get("tag")}
    if kind in ("literal_error", "enum", "union_tag_invalid"):
        expected = _expected(item)
        hint = did_you_mean(str(item.get("input")), expected) or (
            f"choose one of: {', '.join(expected)}" if expected else None)
        message = f"`{path}` cannot be {item.get('input')!r}"
    elif kind == "simple_name":
        hint = item.get("ctx", {}).get("hint")
        if loc and loc[-1] == "[key]":  # a mapping key (a cut's name): point at the key itself
            loc = loc[:-1]
            diagnostics.add(code, f"`{_path_text(loc[:-1], root)}` key {message}",
                            _locate(root, loc, key=True), hint)
            return
        message = f"`{path}` {message}"
    elif kind in ("unknown_layer", "unknown_source"):
        message, hint = message.split(" (", 1)[0], item.get("ctx", {}).get("hint")
    elif kind == "batch_frames_and_size":
        message, hint = f"`{path}`: {message}", (item.get("ctx") or {}).get("hint")
    elif kind == "ensemble_option":
        message, hint = message.split(" (hint: ", 1)
        message, hint = f"`{path}`: {message}", hint.removesuffix(")")
    else:
        hint = (item.get("ctx") or {}).get("hint")  # a spec_error's own hint, if it gave one
        message = f"`{path}`: {message[0].lower() + message[1:]}" if path else message
        ranged = code == "E304" and kind not in ("too_short", "too_long")
        if kind.endswith(("_type", "_parsing")) or ranged:
            message += f", got {item.get('input')!r}"
    diagnostics.add(code, message, _locate(root, loc), hint)


def _expected(item: Any) -> list[str]:
    context = item.get("ctx") or {}
    if "expected_tags" in context:
        return [tag.strip(" '") for tag in str(context["expected_tags"]).split(",")]
    text = str(context.get("expected", ""))
    return [part.strip(" '\"") for part in text.replace(" or ", ",").split(",")
            if part.strip(" '\"")]


def _walk(root: Node, loc: tuple[Any, ...]) -> list[tuple[Any, Node]]:
    """The chain of (loc part, node) that exists in the tree, skipping parts the models add."""
    chain: list[tuple[Any, Node]] = []
    current: Node = root
    previous: Any = None
    tagged: set[int] = set()  # nodes whose union tag the loc already passed
    for part in loc:
        tag = id(current) not in tagged and _is_union_tag(current, part, previous)
        previous = part
        if tag:
            tagged.add(id(current))
            continue
        if isinstance(current, MappingNode) and isinstance(part, str) and part in current.entries:
            current = current.entries[part]
        elif (isinstance(current, SequenceNode) and isinstance(part, int)
              and 0 <= part < len(current.items)):
            current = current.items[part]
        else:
            continue
        chain.append((part, current))
    return chain


def _is_union_tag(node: Node, part: Any, previous: Any) -> bool:
    """Whether a loc part is the tag pydantic adds for a discriminated union, not a key.

    Tags come first for the node they choose a model for: `layer`/`group` after a network
    item's index, and the discriminator's value (`train`, `sgd`) for phases and optimisers, which
    may also be a key of the chosen model (a `train` phase has a `train:` list).
    """
    if isinstance(previous, int) and part in ("layer", "group"):
        return True
    if not isinstance(node, MappingNode):
        return False
    return any(isinstance(value, ScalarNode) and value.value == part
               for value in (node.entries.get("phase"), node.entries.get("type")))


def _locate(root: MappingNode, loc: tuple[Any, ...], key: bool = False) -> Span:
    chain = _walk(root, loc)
    if key and chain and chain[-1][0] == loc[-1]:
        parent = chain[-2][1] if len(chain) > 1 else root
        if isinstance(parent, MappingNode):
            return parent.key_spans.get(str(loc[-1]), chain[-1][1].span)
    return chain[-1][1].span if chain else root.span


def _path_text(loc: tuple[Any, ...], root: MappingNode, missing_key: bool = True) -> str:
    """`network.layers[1].units` for a pydantic loc; `missing_key` adds a last key absent from
    the tree (a missing or unknown key), which is off for a parent's path, whose last loc part
    may be a union's tag (`optimizer` -> `adadelta`) rather than a key."""
    parts = [part for part, _ in _walk(root, loc)]
    if missing_key and loc and (not parts or parts[-1] != loc[-1]) and isinstance(loc[-1], str) \
            and loc[-1] not in _SKIPPED_LOC_PARTS:
        # a missing or unknown key is not in the tree, but belongs in the path
        parts.append(loc[-1])
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(loc: tuple[Any, ...], plain: Any) -> set[str]:
    """Field names of the model that rejected an unknown key at `loc`."""
    model: Any = Spec
    value = plain
    extra: set[str] = set()
    for part in loc:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and part < len(value) else {}
            continue
        if part == "layer":
            from nndsl.spec.network import LayerSpec
            model = LayerSpec
            continue
        if part == "group":
            from nndsl.spec.network import GroupSpec
            model = GroupSpec
            continue
        if part == "params" and isinstance(value, dict):
            type_name = str(value.get("type"))
            layer = LAYERS.get(type_name) if type_name in LAYERS else None
            extra = {"name", "type", "inputs"}
            model = layer.Params if layer else None
            continue
        if part == "options" and isinstance(value, dict):
            extra = {"source", "batch_size", "valid_fraction", "test_fraction", "seed",
                     "num_workers"}
            model = _source_params(str(value.get("source")))
            continue
        if isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            value = value.get(part, {}) if isinstance(value, dict) else {}
            model = _model_in(model.model_fields[part].annotation, value)
        else:
            model = _model_in(model, value, tag=part) if model is not None else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return set(model.model_fields) | extra
    return extra


def _model_in(annotation: Any, value: Any, tag: Any = None) -> Any:
    """The pydantic model inside an annotation (through Optional, tuples, dicts, unions)."""
    candidates: list[type[BaseModel]] = []

    def collect(hint: Any) -> None:
        origin = typing.get_origin(hint)
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            candidates.append(hint)
        elif origin is typing.Annotated:
            collect(typing.get_args(hint)[0])
        elif origin in (typing.Union, types.UnionType, tuple, list, dict):
            for argument in typing.get_args(hint):
                collect(argument)

    collect(annotation)
    if len(candidates) <= 1:
        return candidates[0] if candidates else annotation
    discriminator = value.get("type") or value.get("phase") if isinstance(value, dict) else tag
    for candidate in candidates:
        for field_name in ("type", "phase"):
            field = candidate.model_fields.get(field_name)
            if field is not None and discriminator in typing.get_args(field.annotation):
                return candidate
    return candidates[0]


def _source_params(name: str) -> Any:
    try:
        from nndsl.data.registry import DATA_SOURCES
    except ImportError:
        return None
    return DATA_SOURCES.get(name).Params if name in DATA_SOURCES else None
