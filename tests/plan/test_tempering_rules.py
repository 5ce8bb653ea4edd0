"""Tempering rules: the family network's table (digest §2), the α exception, η*, and errors."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from nndsl.plan.tempering import (
    TemperedNode,
    TemperingError,
    global_rate_bound,
    layerwise_decay,
    tempering_table,
    width_scaled,
)
from nndsl.records import replace


def family_network(one_hot_output: bool = True) -> list[TemperedNode]:
    """Hinton's family network: two one-hot encodings, central 12, out-encoding 6, 24 outputs."""
    return [
        TemperedNode("person", "tanh", 25, 4.0, ("person_input",), ("central",), units=6),
        TemperedNode("relation", "tanh", 13, 4.0, ("relation_input",), ("central",), units=6),
        TemperedNode("central", "tanh", 13, None, ("person", "relation"), ("out_encoding",),
                     units=12),
        TemperedNode("out_encoding", "tanh", 13, None, ("central",), ("output",), units=6),
        TemperedNode("output", "logistic", 7, None, ("out_encoding",), (), is_output=True,
                     one_hot_output=one_hot_output, units=24),
    ]


def test_family_network_table_matches_hand_computation() -> None:
    table = tempering_table(family_network(), batch_size=100)
    # η_j/η = 1/(s·√ε): output s = 1/4, ε = 6 + 1; hidden s = 1, ε = 12 + 1; encodings ε = 4.
    assert table["output"].rate_multiplier == pytest.approx(4 / math.sqrt(7))
    assert table["out_encoding"].rate_multiplier == pytest.approx(1 / math.sqrt(13))
    assert table["central"].rate_multiplier == pytest.approx(1 / math.sqrt(13))
    assert table["person"].rate_multiplier == pytest.approx(0.5)
    assert table["central"].input_power_bound == 13
    assert table["output"].input_power_bound == 7
    # α = 1/(s·√fan-out): central feeds 6 units, encodings feed 12.
    assert table["out_encoding"].attenuation == 1.0
    assert table["central"].attenuation == pytest.approx(1 / math.sqrt(6))
    assert table["relation"].attenuation == pytest.approx(1 / math.sqrt(12))
    assert table["output"].attenuation is None
    assert table["output"].output_error_scale == 1.0
    effective = {rate.name: rate.effective_multiplier for rate in table.rates}
    assert effective["output"] == pytest.approx(1.5119, abs=5e-4)
    assert effective["out_encoding"] == pytest.approx(0.2774, abs=5e-4)
    assert effective["central"] == pytest.approx(0.1132, abs=5e-4)
    assert effective["person"] == pytest.approx(0.0589, abs=5e-4)
    assert effective["relation"] == effective["person"]
    # Digest's rounded figures: 1.51η, 0.277η, 0.113η, 0.059η.
    assert [round(effective[name], 3) for name in ("output", "out_encoding", "central")] == [
        1.512, 0.277, 0.113]
    assert round(effective["person"], 3) == 0.059
    assert table.global_rate_bound == pytest.approx(0.1)
    assert not any(rate.shunted for rate in table.rates)


def test_one_hot_exception_only_for_the_layer_feeding_a_one_hot_output() -> None:
    table = tempering_table(family_network(one_hot_output=False))
    assert table["out_encoding"].attenuation == pytest.approx(1 / math.sqrt(24))
    assert table["central"].effective_multiplier == pytest.approx(
        (1 / math.sqrt(13)) * (1 / math.sqrt(6)) * (1 / math.sqrt(24)))


def test_without_attenuation_and_with_shunting() -> None:
    table = tempering_table(family_network(), error_attenuation=False, shunting=True)
    assert all(rate.attenuation in (None, 1.0) for rate in table.rates)
    assert table["person"].effective_multiplier == pytest.approx(0.5)
    assert all(rate.shunted for rate in table.rates)
    unbiased = [replace(node, fan_in=6, has_bias=False, input_power_bound=None)
                if node.name == "output" else node for node in family_network()]
    table = tempering_table(unbiased, shunting=True)
    assert not table["output"].shunted
    assert table["output"].input_power_bound == 6


def test_quadratic_output_scales_error_by_inverse_slope() -> None:
    nodes = [replace(node, output_loss="quadratic") if node.is_output else node
             for node in family_network()]
    table = tempering_table(nodes)
    assert table["output"].output_error_scale == pytest.approx(4.0)
    assert table["output"].effective_multiplier == pytest.approx(16 / math.sqrt(7))


def test_paths_that_disagree_have_no_effective_rate() -> None:
    nodes = [
        TemperedNode("hidden", "tanh", 3, 4.0, ("input",), ("left", "right"), units=2),
        TemperedNode("left", "tanh", 3, None, ("hidden",), ("output",), units=2),
        TemperedNode("right", "tanh", 3, None, ("hidden",), ("output",), units=5),
        TemperedNode("output", "logistic", 8, None, ("left", "right"), (), is_output=True),
    ]
    table = tempering_table(nodes)
    assert table["left"].effective_multiplier == pytest.approx(1 / math.sqrt(3))
    assert table["hidden"].attenuation == pytest.approx(1 / math.sqrt(7))
    # Both paths attenuate by 1 (the output has one unit), so they agree.
    assert table["hidden"].effective_multiplier == pytest.approx(0.5 / math.sqrt(7))
    # A logistic node's α = 1/(1/4·√1) = 4 differs from the tanh path's 1.
    nodes[2] = replace(nodes[2], activation="logistic")
    assert tempering_table(nodes)["hidden"].effective_multiplier is None


def test_global_rate_bound() -> None:
    assert global_rate_bound(100) == pytest.approx(0.1)
    assert global_rate_bound(1) == 1.0
    with pytest.raises(TemperingError, match="batch size"):
        global_rate_bound(0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda nodes: [replace(nodes[0], activation="swish"), *nodes[1:]], "known activations"),
        (lambda nodes: [*nodes[:2], replace(nodes[2], fan_in=12, has_bias=True), *nodes[3:]],
         "does not match"),
        (lambda nodes: [replace(nodes[0], input_power_bound=None), *nodes[1:]], "external"),
        (lambda nodes: [*nodes[:4], replace(nodes[4], output_loss="hinge")], "no error scale"),
        (lambda nodes: [*nodes[:3], replace(nodes[3], posterior=()), nodes[4]], "feeds no node"),
        (lambda nodes: [*nodes[:3], replace(nodes[3], posterior=("nowhere",)), nodes[4]],
         "nowhere"),
        (lambda nodes: [*nodes[:2], replace(nodes[2], activation="relu"), *nodes[3:]],
         "unbounded"),
    ],
)
def test_undefined_cases_raise(change, message) -> None:
    with pytest.raises(TemperingError, match=message):
        tempering_table(change(family_network()))


def test_cycle_is_rejected() -> None:
    nodes = [TemperedNode("first", "tanh", 2, None, ("second",), ("second",)),
             TemperedNode("second", "tanh", 2, None, ("first",), ("first",))]
    with pytest.raises(TemperingError, match="cycle"):
        tempering_table(nodes)


def test_layerwise_decay_and_width_scaling() -> None:
    assert layerwise_decay({"bottom": 0, "middle": 1, "top": 2}, 0.5) == {
        "bottom": 0.25, "middle": 0.5, "top": 1.0}
    assert width_scaled({"narrow": 64, "wide": 512}, base_width=128) == {
        "narrow": 2.0, "wide": 0.25}
    with pytest.raises(TemperingError):
        layerwise_decay({"layer": 0}, 0.0)
    with pytest.raises(TemperingError):
        width_scaled({"layer": 0}, base_width=8)


def test_module_imports_no_torch_or_numpy() -> None:
    code = ("import sys, nndsl.plan.tempering; "
            "assert not {'torch', 'numpy'} & set(sys.modules), 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)
