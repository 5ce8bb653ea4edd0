"""Command-line layer: the JSON Schema of the spec language, for editors.

Layer entries and data sections are flat in YAML (parameters beside `type:`/`source:`), so the
schema describes them as `if type == X then X's parameters` alternatives built from the registries.
"""

from __future__ import annotations

from typing import Any

from nndsl.cli.schema_rules import block_rules, tighten
from nndsl.data.registry import DATA_SOURCES
from nndsl.layers import LAYERS
from nndsl.spec import Spec


def spec_schema() -> dict[str, Any]:
    """A draft 2020-12 JSON Schema for spec files."""
    schema = Spec.model_json_schema(mode="validation")
    definitions = schema.setdefault("$defs", {})
    layer_common = {"name": {"type": "string"}, "type": {"enum": LAYERS.names()},
                    "inputs": {"anyOf": [{"type": "string"},
                                         {"type": "array", "items": {"type": "string"}}]}}
    alternatives = []
    for layer in LAYERS:
        params = layer.Params.model_json_schema(ref_template="#/$defs/{model}")
        definitions.update(params.pop("$defs", {}))
        alternatives.append({"if": {"properties": {"type": {"const": layer.name}},
                                    "required": ["type"]},
                             "then": {"properties": {**layer_common,
                                                     **params.get("properties", {})},
                                      "required": ["type", *params.get("required", [])],
                                      "additionalProperties": False}})
    block_use = {"type": "object", "required": ["block"], "additionalProperties": False,
                 "properties": {"block": {"type": "string"},
                                "repeat": {"type": "integer", "minimum": 1},
                                "name": {"type": "string"}, "with": {"type": "object"}}}
    group = {"type": "object", "required": ["group", "layers"],
             "properties": {"group": {"type": "string"}, "block": {"type": "string"},
                            "inputs": {"type": "array", "items": {"type": "string"}},
                            "layers": {"type": "array", "items": {"$ref": "#/$defs/NetworkItem"}}}}
    block_rules(block_use)
    # The type's enum outside the alternatives: an unknown type matches no `if` and must fail.
    layer = {"type": "object", "required": ["type"],
             "properties": {"type": {"enum": list(LAYERS.names())}}, "allOf": alternatives}
    definitions["NetworkItem"] = {"anyOf": [block_use, group, layer]}
    network = definitions["NetworkSpec"]["properties"]
    network["layers"] = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/NetworkItem"},
                         "description": network["layers"].get("description", "")}
    data_alternatives = []
    common = dict(definitions["DataSpec"]["properties"])
    common.pop("options", None)
    for name in DATA_SOURCES.names():
        params = DATA_SOURCES.get(name).Params.model_json_schema(ref_template="#/$defs/{model}")
        definitions.update(params.pop("$defs", {}))
        data_alternatives.append({"if": {"properties": {"source": {"const": name}}},
                                  "then": {"properties": {**common, **params.get("properties", {})},
                                           "additionalProperties": False}})
    common["source"] = {**common["source"], "enum": list(DATA_SOURCES.names())}
    definitions["DataSpec"] = {"type": "object", "required": ["source"], "properties": common,
                               "allOf": data_alternatives,
                               "description": definitions["DataSpec"].get("description", "")}
    # Whole sections may come from `use:` fragments (presets, schedules): a file that uses some
    # needs none of the required sections itself; one that uses none needs them all.
    required = schema.pop("required", [])
    if required:
        schema["if"] = {"not": {"required": ["use"]}}
        schema["then"] = {"required": required}
    tighten(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "nndsl spec"
    return schema
