"""The family-relations spec's tempering table matches the paper's Figure 1 (digest section 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.api import compile_spec

ROOT = Path(__file__).resolve().parents[2]


def test_family_network_effective_rates_match_figure_1():
    plan = compile_spec(ROOT / "specs/family_relations_tempered.yaml").plan
    effective = {rate.layer: rate.effective_multiplier for rate in plan.tempering.layers}
    assert effective["out"] == pytest.approx(1.512, abs=1e-3)
    assert effective["out_code"] == pytest.approx(0.277, abs=1e-3)
    assert effective["central"] == pytest.approx(0.113, abs=1e-3)
    assert effective["person_code"] == pytest.approx(0.059, abs=1e-3)
    assert plan.tempering.global_lr_bound == pytest.approx(0.1)
    rates = {layer: group.lr for group in plan.parameter_groups for layer in group.layers
             if group.parameters_of != "biases"}
    assert rates["central"] == pytest.approx(0.04 / 13 ** 0.5)


def test_a_layer_without_bias_counts_no_bias_input_and_is_not_shunted():
    spec = ROOT / "specs/family_relations_tempered.yaml"
    text = spec.read_text().replace("name: central, type: linear, units: 12,",
                                    "name: central, type: linear, units: 12, bias: false,")
    assert text != spec.read_text()
    plan = compile_spec(spec, text=text).raise_for_errors().plan
    central = next(rate for rate in plan.tempering.layers if rate.layer == "central")
    assert central.rate_multiplier == pytest.approx(1 / 12 ** 0.5)  # ε = 12 tanh inputs, no bias
    assert not central.shunted
    assert all(rate.shunted for rate in plan.tempering.layers if rate.layer != "central")
    groups = {(layer, group.parameters_of) for group in plan.parameter_groups for layer in group.layers}
    assert ("central", "all") in groups and ("central", "biases") not in groups


def test_shunted_biases_learn_at_their_multiplier_and_weights_at_the_global_rate_times_it():
    plan = compile_spec(ROOT / "specs/family_relations_tempered.yaml").plan
    multiplier = {rate.layer: rate.rate_multiplier for rate in plan.tempering.layers}
    assert plan.tempering.global_lr != 1
    for group in plan.parameter_groups:
        for layer in group.layers:
            # eq. 21: the mean error a shunted bias sees is not scaled by the global rate.
            expected = multiplier[layer] * (1 if group.parameters_of == "biases" else plan.tempering.global_lr)
            assert group.lr == pytest.approx(expected), (layer, group.parameters_of)


def test_multipliers_scale_the_rules_rates_rather_than_replace_them():
    spec = ROOT / "specs/family_relations_tempered_only.yaml"
    text = spec.read_text()
    base = compile_spec(spec).raise_for_errors().plan
    assert "multipliers" not in text
    scaled = compile_spec(spec, text=text.replace("input_power: 4", "input_power: 4, multipliers: "
                                                  "[{select: [central], lr: 0.5}]")).raise_for_errors().plan

    def rates(plan):
        return {layer: group.lr for group in plan.parameter_groups for layer in group.layers}

    assert rates(scaled)["central"] == pytest.approx(0.5 * rates(base)["central"])
    assert rates(base)["central"] != pytest.approx(rates(base)["out"])  # the rule's own rate, not 1
    assert {layer: lr for layer, lr in rates(scaled).items() if layer != "central"} == pytest.approx(
        {layer: lr for layer, lr in rates(base).items() if layer != "central"})
