"""Spec stage: the selector grammar (all, name globs, type:, extractor:, classifier:)."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from nndsl.spec import Selector


@pytest.mark.parametrize("text, kind, argument", [
    ("all", "all", ""),
    ("  all ", "all", ""),
    ("enc*", "name", "enc*"),
    ("out", "name", "out"),
    ("enc1.blstm", "name", "enc1.blstm"),
    ("enc[12]", "name", "enc[12]"),
    ("type:lstm", "type", "lstm"),
    ("extractor:C3", "extractor", "C3"),
    ("classifier:C3", "classifier", "C3"),
])
def test_selectors_parse(text, kind, argument):
    selector = Selector.parse(text)
    assert (selector.kind, selector.argument) == (kind, argument)
    assert Selector.parse(str(selector)) == selector  # printing gives back the text


@pytest.mark.parametrize("text, kind", [
    ("kind:linear", "selector"),
    ("type:", "selector"),
    ("classifier:", "selector"),
    ("", "value_error"),
])
def test_bad_selectors_are_refused_with_a_spec_error_kind(text, kind):
    with pytest.raises(PydanticCustomError) as caught:
        Selector.parse(text)
    assert caught.value.type == kind


def test_selectors_in_a_spec_are_parsed_once_and_located_when_bad():
    from nndsl.api import compile_spec

    text = ("nndsl: 1\nname: t\ndata: {source: digits}\nnetwork:\n  layers:\n"
            "    - {name: out, type: linear, units: 10}\nloss: {type: cross_entropy}\n"
            "optimizer: {type: sgd, lr: 0.1}\nschedule:\n"
            "  - {phase: train, train: [all, 'type:linear'], freeze: ['bad:x']}\n")
    compiled = compile_spec("spec.yaml", text=text)
    (item,) = compiled.diagnostics
    assert (item.code, item.span.line, item.span.column) == ("E311", 10, 58)
    assert "`bad:x`" in item.message
