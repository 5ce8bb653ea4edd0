"""Spec stage: strict typed models, located errors with did-you-mean, discriminated unions."""

from __future__ import annotations

from spec_texts import MINIMAL_SPEC, compile_text

from nndsl.diagnostics import did_you_mean
from nndsl.layers.dense import LinearParams
from nndsl.layers.recurrent import BLSTMParams
from nndsl.spec.network import GroupSpec, LayerSpec
from nndsl.spec.schedule import JointPhase, RetrainClassifierPhase, TopDownPhase, TrainPhase
from nndsl.spec.training import AdadeltaSpec, SGDSpec


def found(text: str, overrides: list[str] | None = None) -> list[tuple]:
    """(code, line, column, message, hint) of each diagnostic."""
    return [(item.code, item.span.line, item.span.column, item.message, item.hint)
            for item in compile_text(text, overrides).diagnostics if item.span]


def test_did_you_mean_offers_close_names_only():
    assert did_you_mean("hiden", ["hidden", "layers"]) == "did you mean `hidden`?"
    assert did_you_mean("unitz", ["units", "init", "bias"]) == "did you mean `units` or `init`?"
    assert did_you_mean("zzz", ["units", "init"]) is None


def test_a_valid_spec_is_typed_and_frozen():
    spec = compile_text(MINIMAL_SPEC).spec
    hidden, out = spec.network.layers
    assert isinstance(hidden, LayerSpec) and isinstance(hidden.params, LinearParams)
    assert hidden.params.units == 32 and hidden.params.activation == "tanh"
    assert isinstance(spec.optimizer, SGDSpec) and spec.optimizer.momentum == 0.0
    assert isinstance(spec.schedule[0], JointPhase)  # the default schedule
    assert spec.data.valid_fraction == 0.1 and spec.data.options is not None
    try:
        hidden.params.units = 3  # type: ignore[misc]
    except Exception as error:  # pydantic's frozen-instance error
        assert "frozen" in str(error).lower()
    else:
        raise AssertionError("spec models must be frozen")


def test_unknown_keys_point_at_the_key_with_a_hint():
    text = MINIMAL_SPEC.replace("units: 10}", "unitz: 10}")
    assert found(text) == [("E301", 7, 33, "unknown key `unitz` in network.layers[1]",
                            "did you mean `units` or `init`?")]  # no cascade "units is required"


def test_unknown_keys_without_a_close_name_list_what_is_allowed():
    (item,) = found(MINIMAL_SPEC.replace("{type: cross_entropy}", "{type: cross_entropy, zzz: 1}"))
    assert item[0] == "E301" and item[3] == "unknown key `zzz` in loss"
    assert item[4].startswith("allowed here: blank, label_smoothing, ") and "type" in item[4]


def test_optimizer_union_is_discriminated_by_type():
    spec = compile_text(MINIMAL_SPEC.replace("{type: sgd, lr: 0.1}", "{type: adadelta}")).spec
    assert isinstance(spec.optimizer, AdadeltaSpec)
    # a key of another alternative is unknown in the chosen one, with the chosen one's keys as hints
    (item,) = found(MINIMAL_SPEC.replace("{type: sgd, lr: 0.1}", "{type: adadelta, momentun: 0.9}"))
    assert item[0] == "E301" and item[3] == "unknown key `momentun` in optimizer"
    (item,) = found(MINIMAL_SPEC.replace("{type: sgd, lr: 0.1}", "{type: sdg, lr: 0.1}"))
    assert item[:3] == ("E305", 9, 19) and item[4] == "did you mean `sgd`?"


def test_phase_union_is_discriminated_by_phase():
    schedule = ("cuts: units\nschedule:\n  - {phase: joint}\n  - {phase: train, train: [out]}\n"
                "  - {phase: top_down, first_cut: C1}\n  - {phase: retrain_classifier, cut: C1}\n")
    spec = compile_text(MINIMAL_SPEC + schedule).spec
    assert [type(phase) for phase in spec.schedule] == [JointPhase, TrainPhase, TopDownPhase,
                                                        RetrainClassifierPhase]
    (item,) = found(MINIMAL_SPEC + "schedule:\n  - {phase: topdown}\n")
    assert item[0] == "E305" and item[4] == "did you mean `top_down`?"
    assert (item[1], item[2]) == (11, 13)
    (item,) = found(MINIMAL_SPEC + "schedule:\n  - {phase: joint, first_cut: C1}\n")
    assert item[0] == "E301" and "schedule[0]" in item[3]


def test_layers_and_groups_are_told_apart_and_located_inside_groups():
    text = MINIMAL_SPEC.replace("name: t\n", "name: t\nuse: [std:blocks/blstm_projection]\n").replace(
        "data: {source: digits}", "data: {source: synthetic_speech}").replace(
        "    - {name: hidden, type: linear, units: 32, activation: tanh}\n",
        '    - {block: blstm_projection, repeat: 2, name: "enc{index}", '
        'with: {hidden: -4}}\n').replace(
        "units: 10", "units: 21").replace("cross_entropy", "ctc")
    problems = found(text)
    # the bad value is reported once per use, at the `with:` value the user wrote
    assert {(code, line, column) for code, line, column, _, _ in problems} == {("E304", 7, 79)}
    assert any("network.layers[0].layers[0].hidden" in message for _, _, _, message, _ in problems)
    good = compile_text(text.replace("hidden: -4", "hidden: 8")).spec
    assert isinstance(good.network.layers[0], GroupSpec)
    assert isinstance(good.network.layers[0].layers[0].params, BLSTMParams)


def test_unknown_layer_type_and_data_source_have_hints():
    problems = found(MINIMAL_SPEC.replace("type: linear, units: 32", "type: lienar, units: 32").replace(
        "source: digits", "source: digts"))
    assert [(code, hint) for code, _, _, _, hint in problems] == [
        ("E310", "did you mean `digits`?"), ("E306", "did you mean `linear`?")]


def test_data_options_are_validated_by_the_source():
    (item,) = found(MINIMAL_SPEC.replace("source: digits", "source: digits, layout: sideways"))
    assert item[0] == "E305" and item[3] == "`data.layout` cannot be 'sideways'"
    assert item[4] == "choose one of: flat, image"
    (item,) = found(MINIMAL_SPEC.replace("source: digits", "source: digits, layuot: image"))
    assert item[0] == "E301" and item[4] == "did you mean `layout`?"


def test_wrong_types_and_ranges_name_the_value():
    problems = found(MINIMAL_SPEC.replace("lr: 0.1", "lr: fast").replace("name: t", "name: t\nseed: -3"))
    assert [(code, message) for code, _, _, message, _ in problems] == [
        ("E304", "`seed`: input should be greater than or equal to 0, got -3"),
        ("E303", "`optimizer.lr`: input should be a valid number, unable to parse string as a "
                 "number, got 'fast'")]


def test_version_and_required_sections():
    text = MINIMAL_SPEC.replace("nndsl: 1", "nndsl: 2").replace("loss: {type: cross_entropy}\n", "")
    problems = found(text)
    places = [(code, line, column) for code, line, column, _, _ in problems]
    assert places == [("E302", 1, 1), ("E308", 1, 8)]


def test_a_value_refused_by_the_source_stage_is_not_reported_again():
    problems = found(MINIMAL_SPEC.replace("name: t", "name: !!python/name:os.system ''"))
    assert [code for code, *_ in problems] == ["E105"]


def test_a_union_typed_value_gets_one_diagnostic_without_alternative_names():
    conv = ("nndsl: 1\nname: t\ndata: {source: digits, layout: image}\nnetwork:\n  layers:\n"
            "    - {name: conv, type: conv2d, channels: 4, kernel: KERNEL}\n"
            "    - {name: flat, type: flatten}\n"
            "    - {name: out, type: linear, units: 10}\nloss: {type: cross_entropy}\n"
            "optimizer: {type: sgd, lr: 0.1}\n")
    cases = {
        "0": ("E304", "`network.layers[0].kernel`: input should be greater than 0, got 0"),
        "[3, -1]": ("E304",
                    "`network.layers[0].kernel[1]`: input should be greater than 0, got -1"),
        "x": ("E303", "`network.layers[0].kernel`: expected a whole number or a list, got 'x'"),
    }
    for kernel, expected in cases.items():
        assert [item[0] for item in found(conv.replace("KERNEL", kernel))] == [expected[0]]
        assert found(conv.replace("KERNEL", kernel))[0][3] == expected[1]
    (item,) = found(MINIMAL_SPEC + "cuts: unit\n")
    assert item[0] == "E305" and item[3] == "`cuts`: expected `units` or a mapping, got 'unit'"
    assert item[4] == "did you mean `units`?"
    (item,) = found(MINIMAL_SPEC, ["trainer.devices=many"])
    assert item[:2] == ("E303", 1)
    assert item[3] == "`trainer.devices`: expected a whole number or `auto`, got 'many'"
