"""Command-line layer: JSON Schema rules for mistakes local to one value, beyond what the pydantic
models' own schema says, so an editor flags them while typing.

In: the schema `spec_schema` built from the models. Out: the same schema, tightened: the
spec-language version, memory budgets as bytes or percentages within the bounds the loader
accepts, input sizes within range, selectors by their grammar, block `repeat` bounds, cut names
(a key that is not a simple name), and each scheduler type's own options. Cross-references (a
cut naming a layer, a metric against the data's targets) stay with `nndsl validate`.
"""

from __future__ import annotations

from typing import Any

from nndsl.check.compatibility import LOSSES
from nndsl.check.scheduler import CONFLICTS, OPTIONS
from nndsl.resolve.blocks import MAX_REPEAT

MAX_BUDGET_BYTES = 2**50
#: The loader's units (`nndsl.spec.extras`), each in the case-insensitive form a pattern needs.
_UNIT_SIZES = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def at_most(limit: int) -> str:
    """A regex for the whole numbers 0..`limit` (leading zeros allowed)."""
    digits = str(limit)
    alternatives = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for position, digit in enumerate(digits):
        lowest = 1 if position == 0 and len(digits) > 1 else 0
        if int(digit) > lowest:
            rest = len(digits) - position - 1
            alternatives.append(digits[:position] + f"[{lowest}-{int(digit) - 1}]"
                                + (rf"\d{{{rest}}}" if rest else ""))
    alternatives.append(digits)
    return "0*(" + "|".join(alternatives) + ")"


def _amount(unit: str) -> str:
    """A positive amount of `unit` up to `MAX_BUDGET_BYTES`; a fraction on the top whole number
    may pass a little above it (`validate` has the last word there, never the other way)."""
    top = MAX_BUDGET_BYTES // _UNIT_SIZES[unit]
    letters = "".join(f"[{letter.lower()}{letter.upper()}]" for letter in unit)
    below = rf"({at_most(top - 1)})(\.\d+)?" if top > 1 else r"0(\.\d+)?"
    return rf"(?!0*(\.0*)?\s*{letters}\s*$)({below}|{top}(\.\d+)?)\s*{letters}"


#: Bytes with an optional unit up to 2^50 bytes, or a percentage in (0, 100]: the loader's grammar.
BUDGET_TEXT = (r"^\s*((?!0*(\.0*)?\s*%)(100(\.0+)?|\d{1,2}(\.\d+)?)\s*%|"
               # Longest units first: `kib` before `b`, so `7 kib` is not read as `7 ki` + `b`.
               + "|".join(f"({_amount(unit)})"
                          for unit in sorted(_UNIT_SIZES, key=len, reverse=True))
               + r")\s*$")
SELECTOR = r"^\s*(all|[^:\s][^:]*|(type|extractor|classifier):\S.*)\s*$"
MAX_INPUT_SIZE = 10**7


def tighten(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the local-value rules to `schema` (in place) and return it."""
    definitions = schema["$defs"]
    schema["properties"]["nndsl"]["const"] = 1
    memory = definitions.get("MemorySpec", {}).get("properties", {})
    if "budget" in memory:
        memory["budget"]["anyOf"] = [
            {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_BUDGET_BYTES},
            {"type": "string", "pattern": BUDGET_TEXT},
        ]
    shape = definitions["InputSpec"]["properties"]["shape"]
    shape["items"] = {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_INPUT_SIZE}, {"type": "string"}]
    }
    _selectors(schema)
    cuts = schema["properties"].get("cuts", {})
    for alternative in cuts.get("anyOf", []):
        if "patternProperties" in alternative:
            alternative["additionalProperties"] = False  # a key that is not a simple name
    _schedulers(definitions)
    _losses(definitions)
    return schema


def _selectors(node: Any) -> None:
    """Every selector string (described by `Selector`'s schema) gets the selector grammar."""
    if isinstance(node, dict):
        if node.get("type") == "string" and str(node.get("description", "")).startswith(
            "all | NAME-GLOB"
        ):
            node["pattern"] = SELECTOR
        for value in node.values():
            _selectors(value)
    elif isinstance(node, list):
        for value in node:
            _selectors(value)


def _schedulers(definitions: dict[str, Any]) -> None:
    """Each scheduler type admits only the options it reads (`nndsl.check.scheduler.OPTIONS`)."""
    scheduler = definitions["SchedulerSpec"]
    properties = scheduler["properties"]
    scheduler["allOf"] = [
        _only(
            kind,
            [option for option in sorted(properties) if option != "type" and option not in options],
        )
        for kind, options in OPTIONS.items()
    ]
    assert all(kind in OPTIONS for kind, _ in CONFLICTS)  # conflicts are options a type refuses
    definitions["SchedulerSpec"] = scheduler


def _losses(definitions: dict[str, Any]) -> None:
    """Each loss admits only the options it reads in some kind of run (the compatibility table)."""
    loss = definitions["LossSpec"]
    options = [option for option in loss["properties"] if option != "type"]
    loss["allOf"] = [
        _only(
            kind,
            [option for option in options if option not in {*fit.options, *fit.ensemble_options}],
        )
        for kind, fit in LOSSES.items()
    ]


def _only(kind: str, refused: list[str]) -> dict[str, Any]:
    """`type: kind` may not carry any of the `refused` options."""
    refuse = {"not": {"anyOf": [{"required": [option]} for option in refused]}} if refused else {}
    return {"if": {"properties": {"type": {"const": kind}}, "required": ["type"]}, "then": refuse}


def block_rules(block_use: dict[str, Any]) -> None:
    """`repeat` within the bounds the resolver accepts."""
    block_use["properties"]["repeat"] = {"type": "integer", "minimum": 1, "maximum": MAX_REPEAT}
