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
