"""Language reference: the spec sections and keys, read from the pydantic models.

In: a pydantic model class (the root `Spec`, a layer type's or data source's parameter model).
Out: Markdown — one table per section (key, type, default, constraints, description), sections
found by walking the models' field types breadth first, each titled by the YAML path where it
first appears; the members of a discriminated union (optimisers, phases) get a section each.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

_CONSTRAINTS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "at least",
                "max_length": "at most"}
_SCALARS = {int: "integer", float: "number", str: "text", bool: "true / false", type(None): "null"}
# Models handled elsewhere in the reference: layer entries and data sections are flat in YAML,
# their parameters documented per layer type and per data source.
_OPAQUE = {"LayerParams", "NetworkItem"}


def anchor(text: str) -> str:
    """A stable HTML anchor for a section title."""
    return "".join(character if character.isalnum() else "-"
                   for character in text.lower()).strip("-")


def literal_values(annotation: Any) -> list[Any]:
    """The choices of a `Literal[...]` (possibly inside Annotated/Optional), else []."""
    origin = get_origin(annotation)
    if origin is Literal:
        return list(get_args(annotation))
    if origin is Annotated:
        return literal_values(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [value for argument in get_args(annotation) for value in literal_values(argument)]
    return []


def union_members(annotation: Any) -> list[type[BaseModel]]:
    """Model classes in a (possibly annotated) union, in order."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return union_members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [member for argument in get_args(annotation) for member in union_members(argument)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


class SectionWalker:
    """Collects the sections reachable from a root model; `type_text` links models to them."""

    def __init__(self) -> None:
        self.titles: dict[type[BaseModel], str] = {}
        self.pending: list[type[BaseModel]] = []

    def title(self, model: type[BaseModel], path: str) -> str:
        if model not in self.titles:
            self.titles[model] = path
            self.pending.append(model)
        return self.titles[model]

    def type_text(self, annotation: Any, path: str) -> str:
        origin, arguments = get_origin(annotation), get_args(annotation)
        if annotation in _SCALARS:
            return _SCALARS[annotation]
        if origin is Literal:
            return " \\| ".join(f"`{json.dumps(value)}`" for value in arguments)
        if origin is Annotated:
            constraints = constraint_text(arguments[1:])
            inner = self.type_text(arguments[0], path)
            return f"{inner} ({constraints})" if constraints else inner
        if origin in (Union, types.UnionType):
            members = union_members(annotation)
            if len(members) > 1:  # a discriminated union: each member is a section
                return " or ".join(self._link(member, f"{path} ({_variant(member)})")
                                   for member in members)
            return " or ".join(self.type_text(argument, path) for argument in arguments)
        if origin is tuple:
            if len(arguments) == 2 and arguments[1] is Ellipsis:
                return f"list of {self.type_text(arguments[0], path + '[]')}"
            return "[" + ", ".join(self.type_text(argument, path) for argument in arguments) + "]"
        if origin in (list, set, frozenset):
            return f"list of {self.type_text(arguments[0], path + '[]')}"
        if origin is dict:
            keys = self.type_text(arguments[0], path)
            return f"mapping of {keys} to {self.type_text(arguments[1], path + '.NAME')}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation is BaseModel:
                return "the source's own parameters (see [data sources](#data-sources))"
            if annotation.__name__ in _OPAQUE:
                return "the type's own parameters (see [layer types](#layer-types))"
            return self._link(annotation, path)
        return f"`{getattr(annotation, '__name__', str(annotation))}`"

    def _link(self, model: type[BaseModel], path: str) -> str:
        return f"[{self.title(model, path)}](#{anchor(self.title(model, path))})"

    def sections(self, root: type[BaseModel],
                 root_title: str) -> Iterator[tuple[str, type[BaseModel]]]:
        """(title, model) for the root and every model reachable from it, breadth first."""
        self.title(root, root_title)
        while self.pending:
            model = self.pending.pop(0)
            yield self.titles[model], model


def _variant(model: type[BaseModel]) -> str:
    """What selects a union member: `type: sgd`, `phase: joint`."""
    for name in ("type", "phase", "rule", "method"):
        field = model.model_fields.get(name)
        if field is not None and literal_values(field.annotation):
            values = literal_values(field.annotation)
            return f"{name}: " + " / ".join(str(value) for value in values)
    return model.__name__


def constraint_text(metadata: Any) -> str:
    """`> 0, ≤ 100` from pydantic/annotated-types constraint objects."""
    parts = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            parts.append(constraint_text(item.metadata))
            continue
        for attribute, symbol in _CONSTRAINTS.items():
            value = getattr(item, attribute, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(part for part in parts if part)


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(all defaults)"
    if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
        return "(see description)"
    return f"`{json.dumps(value, default=str)}`"


def field_table(model: type[BaseModel], walker: SectionWalker, path: str) -> list[str]:
    """Markdown table rows of a model's keys."""
    lines = ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        kind = walker.type_text(field.annotation, f"{path}.{key}" if path else key)
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        constraints = constraint_text(field.metadata)
        default = default_text(field)
        lines.append(f"| `{key}` | {kind} | {default} | {constraints} | {description} |")
    return lines
