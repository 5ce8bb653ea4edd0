"""The plan's runs: what the run stage executes, per phase and per top-down attempt (labels, the
trainable / frozen / re-initialised layer sets, the re-initialisation seed) and the acceptance
rule of trial phases."""

from __future__ import annotations

from nndsl.api import compile_spec
from nndsl.plan.phases import run_seed

MLP = """nndsl: 1
name: t
seed: 7
use: [std:blocks/dense]
data: {source: digits}
network:
  layers:
    - {block: dense, repeat: 3, name: "h{index}", with: {units: 16}}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.1}
cuts: units
schedule:
"""


def plan_of(schedule: str):
    compiled = compile_spec("spec.yaml", text=MLP + schedule)
    assert compiled.ok, compiled.diagnostics
    return compiled.plan


def test_a_plain_phase_is_one_run_of_its_own_sets_and_no_trial():
    plan = plan_of("  - {phase: joint}\n"
                   "  - {phase: train, name: top, freeze: [extractor:C1], reinit: [classifier:C2]}\n")
    joint, top = plan.phases
    (run,) = joint.runs
    assert (run.label, run.cut, run.trainable, run.frozen, run.reinitialised) == (
        "joint", None, joint.trainable, joint.frozen, joint.reinitialised)
    assert joint.frozen.names == joint.reinitialised.names == ()
    assert run.seed == run_seed(7, "joint") and joint.accept is None
    (run,) = top.runs
    assert run.trainable == top.trainable and run.frozen == top.frozen
    assert top.frozen.names == ("h1.linear", "h1.dropout")
    assert run.reinitialised == top.reinitialised
    assert top.reinitialised.names == ("h3.linear", "h3.dropout", "out")
    assert top.accept is None


def test_each_top_down_attempt_freezes_its_classifier_and_resets_and_trains_its_extractor():
    plan = plan_of("  - {phase: top_down, monitor: valid/accuracy}\n")
    (phase,) = plan.phases
    assert [run.label for run in phase.runs] == ["top_down/1-C3", "top_down/2-C2", "top_down/3-C1"]
    assert phase.accept.monitor == "valid/accuracy" and phase.accept.mode == "max"
    for run in phase.runs:
        cut = plan.cut(run.cut)
        assert run.trainable == run.reinitialised == cut.extractor
        assert run.frozen == cut.classifier
        assert run.seed == run_seed(7, run.label)
    assert len({run.seed for run in phase.runs}) == 3
    assert (phase.trainable, phase.reinitialised) == (phase.runs[0].trainable, phase.runs[0].reinitialised)


def test_a_search_between_first_and_last_cut_plans_only_those_attempts():
    plan = plan_of("  - {phase: top_down, first_cut: C2, last_cut: C1}\n")
    assert [run.label for run in plan.phases[0].runs] == ["top_down/1-C2", "top_down/2-C1"]


def test_retrain_classifier_plans_a_run_per_cut_the_search_may_accept_last():
    plan = plan_of("  - {phase: top_down, first_cut: C3, last_cut: C2}\n"
                   "  - {phase: retrain_classifier, reinit: true}\n"
                   "  - {phase: retrain_classifier, name: fixed, cut: C1}\n")
    _, retrain, fixed = plan.phases
    assert [run.cut for run in retrain.runs] == ["C3", "C2"]
    for run in retrain.runs:
        cut = plan.cut(run.cut)
        assert run.label == retrain.name and run.trainable == run.reinitialised == cut.classifier
        assert run.frozen == cut.extractor
    assert retrain.accept.monitor == retrain.stop.monitor and retrain.accept.mode == retrain.stop.mode
    (run,) = fixed.runs
    assert run.cut == "C1" and run.trainable == plan.cut("C1").classifier and run.reinitialised.names == ()
    assert fixed.accept is not None


def test_plan_json_carries_the_runs_and_the_acceptance_rule():
    data = plan_of("  - {phase: top_down}\n").to_dict()
    phase = data["phases"][0]
    assert phase["accept"] == {"monitor": "valid/loss", "mode": "min"}
    assert set(phase["runs"][0]) == {"label", "cut", "trainable", "frozen", "reinitialised", "seed"}
