"""Tempering compiled into training: attenuation scales backpropagated error by the planned α,
shunted layers learn from centred errors, and the family-relations specs learn in the order the
tempering paper reports (Table 2: tempered + shunting < tempered < conventional)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.tempering import ShuntedLinear

ROOT = Path(__file__).resolve().parents[2]


def _gradients(network: GraphModule, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    network.zero_grad()
    output, _ = network(inputs)
    output.sum().backward()
    return {name: parameter.grad.clone() for name, parameter in network.named_parameters()}


def test_attenuation_scales_each_layers_error_by_the_planned_product():
    compiled = compile_spec(ROOT / "specs/family_relations_tempered_only.yaml")
    plan = compiled.plan
    attenuation = {rate.layer: rate.attenuation or 1.0 for rate in plan.tempering.layers}
    torch.manual_seed(0)
    tempered = GraphModule(compiled.graph, plan.tempering)
    plain = GraphModule(compiled.graph, None)
    plain.load_state_dict(tempered.state_dict())
    inputs = torch.rand(5, 36)
    with_tempering, without = _gradients(tempered, inputs), _gradients(plain, inputs)
    expected = {
        "layers.out_code.0.weight": attenuation["out_code"],
        "layers.central.0.weight": attenuation["central"] * attenuation["out_code"],
        "layers.person_code.0.weight": (attenuation["person_code"] * attenuation["central"]
                                        * attenuation["out_code"]),
    }
    for name, factor in expected.items():
        torch.testing.assert_close(with_tempering[name], factor * without[name])
    torch.testing.assert_close(with_tempering["layers.out.0.weight"],
                               without["layers.out.0.weight"])


def test_shunted_layers_use_centred_weight_errors_and_mean_bias_errors():
    compiled = compile_spec(ROOT / "specs/family_relations_tempered.yaml")
    network = GraphModule(compiled.graph, compiled.plan.tempering)
    assert isinstance(network.layer("central")[0], ShuntedLinear)
    biases = [group for group in compiled.plan.parameter_groups if group.parameters_of == "biases"]
    assert {layer for group in biases for layer in group.layers} == {
        "person_code", "relation_code", "central", "out_code", "out"}
    assert all(group.lr == pytest.approx(group.rate_multiplier) for group in biases)


@pytest.mark.slow
def test_family_relations_learn_faster_with_tempering_and_shunting(tmp_path, monkeypatch):
    from lightning.pytorch import Trainer

    from nndsl.run import train

    # One step per epoch and hundreds of epochs: the best and last checkpoints written after
    # every epoch (for resuming, tested elsewhere) were over half of this test's time. The epochs
    # to the criterion and the score come from training alone (the threshold stops the run at its
    # best epoch, so the weights are the same without the best checkpoint reloaded).
    monkeypatch.setattr(Trainer, "save_checkpoint", lambda trainer, *arguments, **options: None)
    epochs = {}
    for name in ("tempered", "tempered_only"):
        result = train(str(ROOT / f"specs/family_relations_{name}.yaml"),
                       run_dir=str(tmp_path / name), progress_bar=False)
        row = result.summary["phases"][0]
        assert row["best"] <= 1.0, f"{name} did not reach the error criterion"
        epochs[name] = row["epochs"]
    assert epochs["tempered"] < epochs["tempered_only"] < 1000
