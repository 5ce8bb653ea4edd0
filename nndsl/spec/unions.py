"""Spec stage: pydantic's errors for a union-typed value, collapsed into the one that helps.

In: the error dicts of a `ValidationError`. Out: the same list in which each value of a union
type (`devices: int | "auto"`, `kernel: int | [int, int]`, `cuts: "units" | {...}`) has at most
the errors of one alternative, and no alternative's name (`int`, `literal['auto']`,
`tuple[constrained-int, constrained-int]`) left in its `loc`. Pydantic reports every alternative
that failed, each at `loc + (alternative,)`; shown as they are, one wrong value gives two or
three diagnostics at one place, their paths ending in `.int` or `.dict[str,CutSpec]`.

Which errors stay: those of an alternative the value had the shape of (its errors lie deeper,
such as `kernel[1]` of a pair), else a violated bound (`greater than 0`) over mere type
mismatches, else one `union_mismatch` error that lists what the value could have been.
"""

from __future__ import annotations

import re
from typing import Any

#: The names pydantic gives union alternatives in a `loc` (never a key a spec writes: keys
#: containing brackets or `constrained-` are not identifiers, and the bare type names are
#: only treated as alternatives where the tree has no such key).
_ALTERNATIVE = re.compile(r"^(?:int|float|str|bool|none|bytes|constrained-[\w-]+|"
                          r"(?:literal|tuple|list|dict|set|frozenset|function-[\w-]+|nullable|"
                          r"json-or-python|lax-or-strict|chain)\[.*\])$")
_TYPE_KINDS = ("_type", "_parsing", "literal_error", "enum")
_DESCRIPTIONS = {"int": "a whole number", "float": "a number", "str": "text",
                 "bool": "true or false", "none": "null", "dict": "a mapping", "tuple": "a list",
                 "list": "a list"}


def is_alternative(part: Any) -> bool:
    """Whether a `loc` part names a union alternative rather than a key or an index."""
    return isinstance(part, str) and _ALTERNATIVE.match(part) is not None


def collapse_unions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` with each union's errors reduced to those of one alternative (see the module)."""
    while True:
        collapsed = _collapse_once(items)
        if collapsed == items:
            return items
        items = collapsed


def _collapse_once(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[tuple[int, dict[str, Any]]]] = {}
    for item in items:
        loc = tuple(item["loc"])
        position = next((index for index, part in enumerate(loc) if is_alternative(part)), None)
        if position is not None:
            groups.setdefault(loc[:position], []).append((position, item))
    result: list[dict[str, Any]] = []
    done: set[tuple] = set()
    for item in items:
        loc = tuple(item["loc"])
        prefix = next((key for key in groups if loc[:len(key)] == key and len(loc) > len(key)
                       and is_alternative(loc[len(key)])), None)
        if prefix is None:
            result.append(item)
        elif prefix not in done:
            done.add(prefix)
            result.extend(_choose(prefix, groups[prefix]))
    return result


def _without_alternative(position: int, item: dict[str, Any]) -> dict[str, Any]:
    loc = tuple(item["loc"])
    return {**item, "loc": loc[:position] + loc[position + 1:]}


def _choose(prefix: tuple, members: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    deeper = [_without_alternative(position, item) for position, item in members
              if len(item["loc"]) > position + 1]
    if deeper:  # the value had this alternative's shape; its inner errors are the real ones
        return deeper
    bounds = [_without_alternative(position, item) for position, item in members
              if not item["type"].endswith(_TYPE_KINDS)]
    if bounds:
        return bounds[:1]
    expected: list[str] = []
    choices: list[str] = []
    for position, item in members:
        alternative = str(item["loc"][position])
        if alternative.startswith("literal["):
            values = re.findall(r"'([^']*)'", alternative)
            choices += values
            expected += [f"`{value}`" for value in values]
        else:
            base = alternative.removeprefix("constrained-").split("[", 1)[0]
            expected.append(_DESCRIPTIONS.get(base, base))
    value = members[0][1].get("input")
    listing = ", ".join(dict.fromkeys(expected))
    if len(set(expected)) > 1:
        head, _, last = listing.rpartition(", ")
        listing = f"{head} or {last}"
    return [{"type": "union_mismatch", "loc": prefix, "input": value,
             "msg": f"expected {listing}, got {value!r}",
             "ctx": {"choices": choices}}]
