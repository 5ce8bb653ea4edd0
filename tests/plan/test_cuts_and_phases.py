"""Plan stage (front half): cuts as extractor/classifier sets, phases' exact layer sets."""

from __future__ import annotations

from nndsl.api import compile_spec

MLP = """nndsl: 1
name: t
use: [std:blocks/dense]
data: {source: digits}
network:
  layers:
    - {block: dense, repeat: 3, name: "h{index}", with: {units: 16}}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""
H = 65 * 16  # linear 64 -> 16
H2 = 17 * 16  # linear 16 -> 16
OUT = 17 * 10
ACT = "    - {name: act, type: activation, function: tanh}\n"


def plan_of(text: str):
    compiled = compile_spec("spec.yaml", text=text)
    assert compiled.ok, compiled.diagnostics
    return compiled.plan


def problems(text: str) -> list[tuple[str, int, int]]:
    compiled = compile_spec("spec.yaml", text=text)
    return [(item.code, item.span.line, item.span.column) for item in compiled.diagnostics]


def test_units_cuts_are_c1_to_c_n_minus_1_bottom_up():
    plan = plan_of(MLP + "cuts: units\n")
    assert [cut.name for cut in plan.cuts] == ["C1", "C2", "C3"]
    c1, c2, c3 = plan.cuts
    assert c1.extractor.names == ("h1.linear", "h1.dropout")
    assert c1.classifier.names == ("h2.linear", "h2.dropout", "h3.linear", "h3.dropout", "out")
    assert c3.classifier.names == ("out",)
    assert (c1.extractor_parameters, c1.classifier_parameters) == (H, 2 * H2 + OUT)
    assert (c3.extractor_parameters, c3.classifier_parameters) == (H + 2 * H2, OUT)
    assert c2.extractor.names + c2.classifier.names == plan.cuts[0].extractor.names + plan.cuts[0].classifier.names


def test_named_cuts_by_unit_and_by_extractor_selectors():
    plan = plan_of(MLP + "cuts:\n  low: {after: h1}\n  mid: {extractor: ['h1', 'h2.*']}\n")
    low, mid = plan.cuts
    assert low.extractor.names == ("h1.linear", "h1.dropout")
    assert mid.extractor.names == ("h1.linear", "h1.dropout", "h2.linear", "h2.dropout")


def test_joint_phase_trains_everything():
    (joint,) = plan_of(MLP).phases
    assert joint.kind == "joint" and joint.frozen.names == () and joint.reinitialised.names == ()
    assert joint.trainable_parameters == H + 2 * H2 + OUT and joint.frozen_parameters == 0


def test_train_phase_sets_from_selectors():
    schedule = ("cuts: units\nschedule:\n"
                "  - {phase: train, name: top, train: ['classifier:C2'], reinit: [out]}\n"
                "  - {phase: train, name: bottom, train: [all], freeze: ['type:dropout', out]}\n")
    top, bottom = plan_of(MLP + schedule).phases
    assert top.trainable.names == ("h3.linear", "h3.dropout", "out")
    assert top.frozen.names == ("h1.linear", "h1.dropout", "h2.linear", "h2.dropout")
    assert top.reinitialised.names == ("out",) and top.reinitialised_parameters == OUT
    assert (top.trainable_parameters, top.frozen_parameters) == (H2 + OUT, H + H2)
    assert bottom.trainable.names == ("h1.linear", "h2.linear", "h3.linear")
    assert bottom.frozen_parameters == OUT


def test_top_down_phase_freezes_the_classifier_and_reinitialises_the_extractor():
    schedule = "cuts: units\nschedule:\n  - {phase: joint}\n  - {phase: top_down, last_cut: C2}\n" \
               "  - {phase: retrain_classifier, cut: C1, reinit: true}\n"
    joint, top_down, retrain = plan_of(MLP + schedule).phases
    assert top_down.search.cuts == ("C3", "C2") and top_down.cut == "C3"
    assert top_down.frozen.names == ("out",) and top_down.trainable == top_down.reinitialised
    assert top_down.search.mode == "min" and top_down.search.monitor == "valid/loss"
    assert retrain.trainable.names == retrain.reinitialised.names == (
        "h2.linear", "h2.dropout", "h3.linear", "h3.dropout", "out")
    assert retrain.frozen_parameters == H


def test_top_down_skips_cuts_that_would_retrain_nothing_new():
    text = MLP.replace("    - {block: dense", ACT + "    - {block: dense").replace(
        "    - {name: out", "    - {name: scale, type: dropout, p: 0.1}\n    - {name: out")
    # units: act (no parameters), h1, h2, h3, scale (no parameters), out
    plan = plan_of(text + "cuts: units\nschedule:\n  - {phase: top_down}\n")
    assert [cut.name for cut in plan.cuts] == ["C1", "C2", "C3", "C4", "C5"]
    # C5 (below out) retrains what C4 retrains; C1 (below act only) retrains nothing
    assert plan.phases[0].search.cuts == ("C5", "C3", "C2")


def test_top_down_over_parameter_free_cuts_only_trains_nothing():
    text = MLP.replace("    - {block: dense", ACT + "    - {block: dense")
    assert problems(text + "cuts: units\nschedule:\n  - {phase: top_down, first_cut: C1}\n") == \
        [("E405", 14, 5)]


def test_default_phase_names_number_repeated_kinds():
    plan = plan_of(MLP + "schedule:\n  - {phase: joint}\n  - {phase: joint}\n  - {phase: train}\n")
    assert [phase.name for phase in plan.phases] == ["joint-1", "joint-2", "train"]


def test_stop_defaults_come_from_the_metric_and_the_trainer():
    plan = plan_of(MLP + "metrics: [accuracy]\ntrainer: {max_epochs: 7}\nschedule:\n"
                   "  - {phase: joint, stop: {monitor: valid/accuracy, patience: 2}}\n")
    stop = plan.phases[0].stop
    assert (stop.monitor, stop.mode, stop.patience) == ("valid/accuracy", "max", 2)
    assert stop.max_epochs == 7


def test_phase_problems_found_with_the_graph():
    schedule = ("schedule:\n  - {phase: train, train: ['nothing*']}\n"
                "  - {phase: train, train: ['type:dropout']}\n"
                "  - {phase: train, train: [out], freeze: [out]}\n"
                "  - {phase: train, freeze: [out]}\n")
    # a selector matching nothing leaves its phase with nothing to train; `all` minus `out` is fine
    assert problems(MLP + schedule) == [("E405", 12, 5), ("E404", 12, 28), ("E405", 13, 5),
                                        ("E406", 14, 42)]
