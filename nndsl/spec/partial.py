"""Spec stage: a stand-in `Spec` for a spec with errors, so independent checks still run.

In: the resolved tree of a spec that failed validation. Out: a `PartialSpec` — a `Spec` in which
every top-level section with an error is replaced by a neutral stand-in (optional sections
dropped, required ones given a minimal valid value), and the names of the sections that
validated as written — or None when even that does not validate.

Why: "every error at once" should not stop at the first stage with an error. A wrong cut name
(`after:`) is found by the check stage, which needs a `Spec`; a typo in `optimizer:` must not
hide it. Checks run on the stand-in only when every section they read is `clean`, so a stand-in
never causes a diagnostic of its own (dropping a section only removes references to check).
"""

from __future__ import annotations

from typing import Any

from nndsl.records import Record
from nndsl.source import MappingNode, to_plain
from nndsl.spec.root import Spec

# Minimal valid values for the required sections (optional ones are simply left out).
_STAND_INS: dict[str, Any] = {
    "nndsl": 1,
    "name": "spec",
    "data": {"source": "digits"},
    "network": {"layers": [{"name": "out", "type": "linear", "units": 1}]},
    "loss": {"type": "cross_entropy"},
    "optimizer": {"type": "sgd", "lr": 0.1},
}


class PartialSpec(Record):
    """A `Spec` with its faulty sections stood in for, and the sections that are as written."""

    spec: Spec
    clean: frozenset[str]


def partial_spec(root: MappingNode) -> PartialSpec | None:
    """The stand-in spec of a tree that failed validation, or None when it cannot be made."""
    from pydantic import ValidationError

    plain = to_plain(root)
    if not isinstance(plain, dict):
        return None
    try:
        return PartialSpec(Spec.model_validate(plain), frozenset(Spec.model_fields))
    except ValidationError as error:
        problems = error.errors()
    if any(not item["loc"] for item in problems):
        return None  # an error about the whole document: no section can be trusted
    faulty = {str(item["loc"][0]) for item in problems}
    standing_in = {key: value for key, value in plain.items() if key not in faulty}
    standing_in.update({key: _STAND_INS[key] for key in faulty if key in _STAND_INS})
    try:
        spec = Spec.model_validate(standing_in)
    except ValidationError:
        return None
    return PartialSpec(spec,
                       frozenset(plain) - faulty | (frozenset(Spec.model_fields) - set(plain)))
