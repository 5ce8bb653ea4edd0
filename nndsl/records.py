"""Immutable records: the front end's plain data (spans, documents, graph nodes, plans).

A `Record` subclass declares typed fields like a frozen dataclass and gets the same behaviour:
positional or keyword construction, field-wise equality, hashing, a readable repr, and
assignment refused (AttributeError). `replace(record, **changes)` returns a changed copy;
`fields(record)` lists the fields in order.

Why not `dataclasses`: a frozen dataclass compiles its methods from source text when its class
is created (about 0.7 ms per class on Python 3.11), and `nndsl validate` defines some forty
records, about a tenth of its start-up. msgspec builds the same methods in C (well under 0.1 ms
per class). Mutable working state (diagnostic lists, fragment sets, run state) stays in
ordinary dataclasses.
"""

from __future__ import annotations

from msgspec import Struct, field
from msgspec.structs import fields, replace

__all__ = ["Record", "field", "fields", "replace"]


class Record(Struct, frozen=True):
    """Base of nndsl's immutable records (subclasses inherit `frozen`)."""
