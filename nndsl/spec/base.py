"""Spec stage: the base model and the custom error kinds shared by the spec models.

Every spec model is strict (unknown keys are errors) and frozen (later stages cannot patch it).
Validators that need a registry read it from pydantic's validation context, so tests can use
private registries.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo
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
