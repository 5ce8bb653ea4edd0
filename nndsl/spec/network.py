"""Spec stage: the `network:` section.

`layers:` is a list; each item is a layer (`type:` plus that type's parameters, flat) or a group
(made by expanding a block, or written by hand: `{group: NAME, layers: [...]}`). A layer reads
the previous item's output unless it names `inputs:` (the DAG form). `input` names the network's
input; a group's name stands for its last layer.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from nndsl.diagnostics import did_you_mean
from nndsl.layers import LayerParams
from nndsl.spec.base import SpecModel, gather_flat_keys, layer_registry, spec_error

NETWORK_INPUT = "input"
_LAYER_KEYS = {"name", "type", "inputs", "params"}


class LayerSpec(SpecModel):
    """One layer: its name, type, inputs and type-specific parameters."""

    name: str = Field(description="unique name (default: the type and position, e.g. linear_3)")
    type: str = Field(description="layer type; `nndsl ls` lists them")
    inputs: tuple[str, ...] | None = Field(None, description="input layer names (default: the "
                                                             "previous layer)")
    params: LayerParams = Field(description="type-specific parameters, written flat beside `type`")

    @model_validator(mode="before")
    @classmethod
    def _gather_params(cls, value: Any) -> Any:
        return gather_flat_keys(value, _LAYER_KEYS, "params")

    @field_validator("inputs", mode="before")
    @classmethod
    def _single_input(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        registry = layer_registry(info)
        if value not in registry:
            hint = did_you_mean(value, registry.names()) or "`nndsl ls` lists the layer types"
            raise spec_error("unknown_layer", "unknown layer type `{type}` ({hint})", type=value,
                             hint=hint)
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _typed_params(cls, value: Any, info: ValidationInfo) -> Any:
        registry, type_name = layer_registry(info), info.data.get("type", "")
        if type_name not in registry:
            return LayerParams()  # the unknown type is already reported
        return registry.get(type_name).Params.model_validate(value or {})


class GroupSpec(SpecModel):
    """A named group of layers: one top-level unit of the network (a block repetition)."""

    group: str = Field(description="the group's name, which also names its output")
    block: str | None = Field(None, description="the block this group was expanded from")
    inputs: tuple[str, ...] | None = Field(None, description="inputs of the group's first layer")
    layers: tuple[NetworkItem, ...] = Field(min_length=1, description="the group's layers")


def _item_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "group" if "group" in value else "layer"
    return "group" if isinstance(value, GroupSpec) else "layer"


NetworkItem = Annotated[
    Annotated[LayerSpec, Tag("layer")] | Annotated[GroupSpec, Tag("group")],
    Discriminator(_item_kind),
]


class InputSpec(SpecModel):
    """The network input's shape for one example, without the batch axis; "T" marks a variable
    length."""

    shape: tuple[int | str, ...] = Field(min_length=1, max_length=4,
                                         description="e.g. [T, 40] or [64]")

    @field_validator("shape")
    @classmethod
    def _sizes(cls, shape: tuple[int | str, ...]) -> tuple[int | str, ...]:
        for dim in shape:
            if isinstance(dim, int) and not 1 <= dim <= 10**7:
                raise spec_error("size_too_large" if dim > 0 else "value_error",
                                 "input size {size} is out of range (1 to 10^7)", size=dim)
        return shape


class NetworkSpec(SpecModel):
    """The network: its input, its layers, and which layer is its output."""

    input: InputSpec | None = Field(None, description="input shape (default: from the data source)")
    layers: tuple[NetworkItem, ...] = Field(min_length=1, description="layers and groups, in order")
    output: str | None = Field(None, description="output layer (default: the last one)")

    @model_validator(mode="before")
    @classmethod
    def _default_names(cls, value: Any) -> Any:
        # Unnamed layers get `<type>_<position>` so every node can be referred to and shown.
        if isinstance(value, dict) and isinstance(value.get("layers"), list):
            value = dict(value)
            value["layers"] = _name_layers(value["layers"], prefix="", counter=[0])
        return value


def _name_layers(items: list[Any], prefix: str, counter: list[int]) -> list[Any]:
    named = []
    for item in items:
        counter[0] += 1
        if isinstance(item, dict) and "group" not in item and "name" not in item:
            item = {"name": f"{prefix}{item.get('type', 'layer')}_{counter[0]}", **item}
        elif isinstance(item, dict) and isinstance(item.get("layers"), list):
            group_prefix = f"{item.get('group')}." if isinstance(item.get("group"), str) else prefix
            item = {**item, "layers": _name_layers(item["layers"], group_prefix, counter)}
        named.append(item)
    return named


GroupSpec.model_rebuild()
NetworkSpec.model_rebuild()
