"""Check stage: bagging stacks every member's bootstrap draws into one batch, so examples of
different lengths are refused at validation (E612), whatever kind of input has the variable
axis, instead of failing when the first bagged batch is stacked."""

from __future__ import annotations

from spec_texts import MINIMAL_SPEC, compile_text

from nndsl.check.batching import check_bagging_examples
from nndsl.data.registry import DataSignature
from nndsl.diagnostics import DiagnosticList, StageContext

BAGGING = MINIMAL_SPEC + "ensemble: {members: 2, method: bagging}\n"


def _errors(text: str, overrides: list[str] | None = None) -> list[str]:
    compiled = compile_text(text, overrides)
    return [item.code for item in compiled.diagnostics if item.severity == "error"]


def test_bagging_on_fixed_size_class_data_is_valid():
    assert _errors(BAGGING) == []


def test_bagging_on_sequences_of_class_targets_is_refused_at_the_method():
    text = BAGGING.replace("{source: digits}", "{source: synthetic_speakers}").replace(
        "{name: hidden, type: linear, units: 32, activation: tanh}",
        "{name: hidden, type: lstm, hidden: 8, output: last}").replace("units: 10", "units: 12")
    compiled = compile_text(text)
    found = [item for item in compiled.diagnostics if item.severity == "error"]
    assert [item.code for item in found] == ["E612"]  # one diagnostic, not E605 besides
    assert (found[0].span.line, found[0].span.column) == (10, 32)
    assert "('T', 24)" in found[0].message
    assert _errors(text, ["ensemble.method=independent"]) == ["E605"]  # the other methods


def test_variable_length_tokens_are_refused_too():
    """A plugin source of token sequences ("T",) with class targets: not "sequence" inputs (the
    plan's ensemble check reads only that kind), yet of different lengths."""
    compiled = compile_text(BAGGING)
    context = StageContext(lambda path: None, DiagnosticList())
    tokens = DataSignature(input_shape=("T",), input_kind="tokens", target_kind="class",
                           num_classes=4, vocabulary_size=20)
    check_bagging_examples(compiled.spec, tokens, context)
    assert [item.code for item in context.diagnostics.items] == ["E612"]
    fixed = DataSignature(input_shape=(16,), input_kind="tokens", target_kind="class",
                          num_classes=4, vocabulary_size=20)
    context = StageContext(lambda path: None, DiagnosticList())
    check_bagging_examples(compiled.spec, fixed, context)
    assert context.diagnostics.items == []
