"""Spec stage: the base model and the custom error kinds shared by the spec models.

Every spec model is strict (unknown keys are errors) and frozen (later stages cannot patch it).
Validators that need a registry read it from pydantic's validation context, so tests can use
private registries.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from nndsl.layers import LAYERS, LayerRegistry

Identifier = str


class SpecModel(BaseModel):
    """Base of every spec section."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def layer_registry(info: ValidationInfo) -> LayerRegistry:
    context = info.context or {}
    return context.get("layers", LAYERS)


def gather_flat_keys(value: Any, known: set[str], into: str) -> Any:
    """Move every key of a YAML mapping that is not in `known` under `into`.

    Layer parameters sit beside `type:` and source options beside `source:` in the YAML; the
    models keep them apart so the registry's own parameter model can type them.
    """
    if not isinstance(value, dict) or into in value:
        return value
    value = dict(value)
    value[into] = {key: value.pop(key) for key in list(value) if key not in known}
    return value


def spec_error(kind: str, message: str, **context: Any) -> PydanticCustomError:
    """A validation error whose `kind` maps to a diagnostic code in `spec/load.py`."""
    return PydanticCustomError(kind, message, context or None)


_SIMPLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
SIMPLE_NAME_LIMIT = 100


def _simple_name(value: str) -> str:
    """A name that becomes part of a path (the run directory, a phase's checkpoint folder) must
    stay one plain path component: no separators, no `..`, no leading dot or dash, bounded."""
    if len(value) > SIMPLE_NAME_LIMIT or not _SIMPLE_NAME.fullmatch(value) or ".." in value:
        raise spec_error("simple_name", "must be a simple name: it names a folder of the run",
                         hint=f"use letters, digits, `.`, `_` and `-` (no `..`, not starting with "
                         f"`.` or `-`), at most {SIMPLE_NAME_LIMIT} characters")
    return value


#: A name used as a path component (experiment, phase and cut names); E312 otherwise.
SimpleName = Annotated[str, AfterValidator(_simple_name), Field(json_schema_extra={
    "pattern": rf"^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._-]{{0,{SIMPLE_NAME_LIMIT - 1}}}$"})]
