"""Rates are decided per phase by the plan: a phase may change the tempering rule or the rate,
and the optimiser of every phase (and resumed phase) is rebuilt from these groups."""

from __future__ import annotations

import pytest
from spec_texts import compile_file

SPEC = """
nndsl: 1
name: rates
data: {source: digits}
network:
  layers:
    - {name: h1, type: linear, units: 16, activation: tanh}
    - {name: h2, type: linear, units: 16, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
cuts: units
tempering: {rule: layerwise_decay, decay: 0.5}
schedule:
  - {phase: joint}
  - {phase: train, name: slow-top, optimizer: {type: sgd, lr: 0.01},
     tempering: {rule: manual, multipliers: [{select: [out], lr: 0.1}]}}
"""


def test_each_phase_has_its_own_planned_rates(tmp_path):
    plan = compile_file(tmp_path, SPEC).plan
    first = {layer: group.lr for group in plan.phases[0].parameter_groups for layer in group.layers}
    second = {layer: group.lr for group in plan.phases[1].parameter_groups for layer in group.layers}
    assert first == pytest.approx({"h1": 0.1 * 0.25, "h2": 0.1 * 0.5, "out": 0.1})
    assert second == pytest.approx({"h1": 0.01, "h2": 0.01, "out": 0.001})


def test_multiplier_selecting_nothing_is_located(tmp_path):
    diagnostics = compile_file(tmp_path, SPEC.replace("select: [out]", "select: [outt]")).diagnostics
    assert [item.code for item in diagnostics] == ["E404"]
    assert diagnostics[0].hint == "did you mean `out`?"


def test_no_decay_excludes_biases_and_norms(tmp_path):
    text = SPEC.replace("optimizer: {type: sgd, lr: 0.1}", "optimizer: {type: sgd, lr: 0.1, weight_decay: 0.01}")
    text = text.replace("tempering: {rule: layerwise_decay, decay: 0.5}", "tempering: {rule: none, no_decay: [bias, norm]}")
    text = text.replace("    - {name: out,", "    - {name: norm, type: layer_norm}\n    - {name: out,")
    plan = compile_file(tmp_path, text).plan
    groups = {(group.parameters_of, layer): group for group in plan.phases[0].parameter_groups for layer in group.layers}
    assert groups[("weights", "h1")].weight_decay == pytest.approx(0.01)
    assert groups[("biases", "h1")].weight_decay == 0
    assert groups[("biases", "h1")].parameters == 16 + 16 + 16 + 10  # h1, h2, the norm's shift, out
    assert groups[("weights", "h1")].parameters == 64 * 16 + 16 * 16 + 16 * 10
    assert groups[("weights", "norm")].weight_decay == 0 and groups[("biases", "norm")].weight_decay == 0
