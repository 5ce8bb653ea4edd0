"""Class selections, layer slots and evaluate phases, as the plan records them (plan.json) and
as the front end validates them."""

from __future__ import annotations

from pathlib import Path

from nndsl.api import compile_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "lwta_forgetting.yaml"


def test_the_forgetting_protocol_is_planned_phase_by_phase():
    compiled = compile_spec(SPEC)
    assert compiled.ok, compiled.diagnostics
    phases = {phase["name"]: phase for phase in compiled.plan.to_dict()["phases"]}
    assert list(phases) == ["p1", "p1_before", "p2", "p1_after"]
    assert phases["p1"]["classes"] == [0, 1, 2, 3, 4] and phases["p1"]["relabel"] is True
    assert phases["p1"]["save"] == [{"layer": "out", "slot": "p1_out"}]
    assert phases["p2"]["classes"] == [5, 6, 7, 8, 9]
    assert phases["p2"]["reinitialised"] == ["out"]
    assert phases["p1_after"]["restore"] == [{"layer": "out", "slot": "p1_out"}]
    for evaluation in ("p1_before", "p1_after"):
        assert phases[evaluation]["kind"] == "evaluate"
        assert (
            phases[evaluation]["trainable"] == []
            and phases[evaluation]["trainable_parameters"] == 0
        )
    # A 5-way output for 10-class data is no error when every phase selects 5 classes.
    assert not [item for item in compiled.diagnostics if item.code == "E505"]


def _compile(tmp_path, schedule: str, units: int = 5):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
nndsl: 1
name: t
data: {{source: digits, valid_fraction: 0.1, test_fraction: 0.2}}
network:
  layers:
    - {{name: hidden, type: linear, units: 16, activation: relu}}
    - {{name: out, type: linear, units: {units}}}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
schedule:
{schedule}
""")
    return compile_spec(spec)


def test_an_output_too_narrow_for_all_classes_is_still_an_error_when_a_phase_uses_them(tmp_path):
    compiled = _compile(
        tmp_path, "  - {phase: joint, classes: [0, 1, 2, 3, 4], relabel: true}\n  - {phase: joint}"
    )
    assert "E505" in {item.code for item in compiled.diagnostics}


def test_without_relabel_the_output_needs_the_largest_class(tmp_path):
    compiled = _compile(tmp_path, "  - {phase: joint, classes: [5, 6]}", units=7)
    assert compiled.ok, compiled.diagnostics
    narrow = _compile(tmp_path, "  - {phase: joint, classes: [5, 7]}", units=7)
    assert [item.code for item in narrow.diagnostics if item.severity == "error"] == ["E629"]


def test_a_slot_saved_again_takes_the_shape_of_its_latest_layer(tmp_path):
    compiled = _compile(
        tmp_path,
        "  - {phase: joint, classes: [0, 1], relabel: true, save: {hidden: s}}\n"
        "  - {phase: joint, classes: [0, 1], relabel: true, save: {out: s}}\n"
        "  - {phase: evaluate, classes: [0, 1], relabel: true, restore: {out: s}}",
    )
    assert compiled.ok, compiled.diagnostics


def test_save_and_restore_only_on_phases_that_can_honour_them(tmp_path):
    compiled = _compile(tmp_path, "  - {phase: top_down, save: {out: s}}")
    assert "E301" in {item.code for item in compiled.diagnostics}
