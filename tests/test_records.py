"""Records (msgspec Structs) keep the guarantees the front end relies on: immutability, value
equality and hashing, copies with changes, and pickling of a whole compiled spec (process-based
data loading and ddp hand plans to other processes)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from nndsl.api import compile_spec
from nndsl.diagnostics import Span
from nndsl.plan.plan import CutPlan
from nndsl.records import Record, fields, replace

ROOT = Path(__file__).resolve().parents[1]


def test_records_are_immutable_values():
    span = Span("spec.yaml", 3, 5, 3, 9)
    with pytest.raises(AttributeError):
        span.line = 4  # type: ignore[misc]
    assert (span == Span("spec.yaml", 3, 5, 3, 9)
            and hash(span) == hash(Span("spec.yaml", 3, 5, 3, 9)))
    moved = replace(span, line=4, end_line=4)
    assert (moved.line, moved.end_line, span.line) == (4, 4, 3)
    assert [item.name for item in fields(span)][:3] == ["file", "line", "column"]
    assert len({span, Span("spec.yaml", 3, 5, 3, 9), moved}) == 2


def test_records_of_different_types_never_compare_equal():
    class Point(Record):
        x: int

    class Other(Record):
        x: int

    assert Point(1) != Other(1)


@pytest.mark.parametrize("spec",
                         ["quickstart.yaml", "memory_mlp_digits.yaml", "topdown_speech_small.yaml"])
def test_a_compiled_spec_survives_pickling(spec):
    compiled = compile_spec(ROOT / "specs" / spec, []).raise_for_errors()
    copy = pickle.loads(pickle.dumps(compiled))
    assert copy.plan == compiled.plan
    assert copy.plan.to_dict() == compiled.plan.to_dict()
    assert copy.graph.order == compiled.graph.order and copy.graph.layers == compiled.graph.layers
    cut = next(iter(compiled.plan.cuts), None)
    if cut is not None:
        assert isinstance(cut, CutPlan) and copy.plan.cut(cut.name) == cut
