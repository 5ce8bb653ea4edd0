"""Loss terms declared by layer types: the KL of variational dropout and the `ica` layer's
independence term, summed by the training loss with their weights from `loss.terms`.

At weight 1 both equal, bit for bit, what they were before they became declared terms
(`tests/oracles/loss_terms_reference.py`); other weights scale exactly that term.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional

from nndsl.api import compile_spec
from nndsl.backend.adaptation import adaptation_loss
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.losses import CompiledLoss
from nndsl.backend.modules.independent_components import IcaModule, infomax_direction
from nndsl.plan import LossTermPlan
from tests.oracles.loss_terms_reference import reference_kl_loss, reference_unmix


class OneLayer(nn.Module):
    """An ICA layer and a fixed random classifier on top, as a network with `layer(name)`."""

    def __init__(self, unmix: IcaModule, features: int, classes: int, seed: int) -> None:
        super().__init__()
        self.unmix = unmix
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("classifier", torch.randn(features, classes, generator=generator))

    def layer(self, name: str) -> nn.Module:
        assert name == "unmix"
        return self.unmix

    def forward(self, inputs: torch.Tensor, reference: bool = False) -> torch.Tensor:
        unmixed = reference_unmix(self.unmix, inputs) if reference else self.unmix(inputs)
        return unmixed.reshape(len(inputs), -1) @ self.classifier


def _independence(weight: float) -> tuple[LossTermPlan, ...]:
    return (LossTermPlan("unmix", "independence", weight, False, "infomax"),)


@pytest.mark.parametrize("bins", [None, 3])
def test_ica_independence_term_adapts_as_the_built_in_update_did(bins):
    torch.manual_seed(5)
    shape = (4, 2) if bins is None else (4, bins, 2, 2)  # [frames, C] or [frames, bins, C, 2]
    features = 8 if bins is None else 4 * bins * 2 * 2
    new = OneLayer(IcaModule(2, bins, gamma=0.7, independence=True), features, 5, seed=1)
    with torch.no_grad():
        new.unmix.weight.add_(0.3 * torch.randn_like(new.unmix.weight))
    old, start = copy.deepcopy(new), new.unmix.weight.detach().clone()
    loss = CompiledLoss(None, "class", 100, _independence(1.0))
    optimizers = [torch.optim.SGD(model.unmix.parameters(), lr=0.05) for model in (new, old)]
    examples = torch.randn(6, *shape)
    for example in examples:  # one update per example, as an adapt phase makes them
        new_loss = loss.with_layer_terms(new, adaptation_loss(new(example[None])))
        old_loss = adaptation_loss(old(example[None], reference=True))
        assert torch.equal(new_loss, old_loss)  # the term is zero in value
        for optimizer, value in zip(optimizers, (new_loss, old_loss)):
            optimizer.zero_grad()
            value.backward()
        assert torch.equal(new.unmix.weight.grad, old.unmix.weight.grad)
        for optimizer in optimizers:
            optimizer.step()
        assert torch.equal(new.unmix.weight, old.unmix.weight)
    assert not torch.equal(new.unmix.weight, start)  # it learned


def test_ica_independence_weight_scales_the_infomax_direction():
    torch.manual_seed(6)
    network = OneLayer(IcaModule(3, None, gamma=0.5, independence=True), 3 * 5, 4, seed=2)
    with torch.no_grad():
        network.unmix.weight.copy_(torch.randn(1, 3, 3))
    inputs = torch.randn(5, 3)
    gradients = {}
    for weight in (0.0, 1.0, 2.5):
        network.unmix.weight.grad = None
        output = network(inputs[None])
        total = CompiledLoss(None, "class", 1, _independence(weight)).with_layer_terms(
            network, output.pow(2).sum())
        total.backward()
        gradients[weight] = network.unmix.weight.grad.clone()
    direction = infomax_direction(network.unmix.weight.detach(), inputs[:, None]
                                  @ network.unmix.weight.detach()[0].T)
    torch.testing.assert_close(gradients[1.0] - gradients[0.0], -direction)
    torch.testing.assert_close(gradients[2.5] - gradients[0.0], -2.5 * direction)


def test_ica_term_is_silent_when_frozen_or_evaluating():
    layer = IcaModule(2, None, gamma=1.0, independence=True)
    layer(torch.randn(4, 2))
    assert layer.loss_terms()["independence"].requires_grad
    layer.eval()
    layer(torch.randn(4, 2))
    assert float(layer.loss_terms()["independence"]) == 0.0
    assert not layer.loss_terms()["independence"].requires_grad
    layer.train()
    layer.weight.requires_grad_(False)
    layer(torch.randn(4, 2))
    assert not layer.loss_terms()["independence"].requires_grad


VARIATIONAL = """
nndsl: 1
name: vd
data: {source: digits}
network:
  layers:
    - {name: drop1, type: variational_dropout, units: 16, activation: relu}
    - {name: drop2, type: variational_dropout}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: adam, lr: 0.01}
"""


def _variational(tmp_path: Path, text: str = VARIATIONAL):
    compiled = compile_spec(tmp_path / "spec.yaml", text=text)
    assert compiled.ok, [str(item) for item in compiled.diagnostics]
    torch.manual_seed(0)
    network = GraphModule(compiled.graph)
    for module in network.modules():  # off the default rate, where the KL is zero
        if hasattr(module, "log_alpha"):
            with torch.no_grad():
                module.log_alpha.uniform_(-3.0, -0.5)
    return compiled, network


def test_kl_term_trains_as_the_built_in_kl_did(tmp_path):
    compiled, new = _variational(tmp_path)
    assert [(term.layer, term.term, term.weight, term.per_example)
            for term in compiled.plan.loss_terms] == [("drop1", "kl", 1.0, True),
                                                      ("drop2", "kl", 1.0, True)]
    old = copy.deepcopy(new)
    loss = CompiledLoss(compiled.spec.loss, "class", 1000, compiled.plan.loss_terms)
    optimizers = [torch.optim.Adam(model.parameters(), lr=0.01) for model in (new, old)]
    generator = torch.Generator().manual_seed(4)
    for _ in range(4):
        batch = {"inputs": torch.randn(8, 64, generator=generator),
                 "targets": torch.randint(0, 10, (8,), generator=generator)}
        state = torch.get_rng_state()  # the same noise draws in both networks
        new_total, data = loss(new, new(batch["inputs"])[0], None, batch)
        torch.set_rng_state(state)
        old_output = old(batch["inputs"])[0]
        old_total = reference_kl_loss(old, functional.cross_entropy(old_output,
                                                                    batch["targets"]), 1000)
        assert torch.equal(new_total, old_total) and new_total > data
        for optimizer, value in zip(optimizers, (new_total, old_total)):
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
        for (name, got), expected in zip(new.named_parameters(), old.parameters()):
            assert torch.equal(got, expected), name


def test_kl_weights_by_term_and_by_layer(tmp_path):
    weighted = "loss: {type: cross_entropy, terms: {kl: 0.5, drop2: {kl: 0}}}"
    compiled, network = _variational(
        tmp_path, VARIATIONAL.replace("loss: {type: cross_entropy}", weighted))
    assert [term.weight for term in compiled.plan.loss_terms] == [0.5, 0.0]
    data = torch.tensor(1.0)
    total = CompiledLoss(compiled.spec.loss, "class", 10, compiled.plan.loss_terms
                         ).with_layer_terms(network, data)
    first = network.layer("drop1")[0].kl_divergence()
    torch.testing.assert_close(total, data + 0.5 * first / 10)
