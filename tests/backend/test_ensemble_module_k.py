"""A compiled sMCL ensemble stepped as training steps it: the gradient of each example reaches
exactly the planned `k` members with the lowest loss on it (and k = M reaches every member)."""

from __future__ import annotations

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.backend.ensemble.losses import per_member_cross_entropy
from nndsl.backend.ensemble.module import EnsembleModule
from nndsl.backend.ensemble.network import EnsembleNetwork
from nndsl.backend.lightning_module import RunSettings

SPEC = """
nndsl: 1
name: ensemble-k
seed: 1
data: {{source: digits, batch_size: 64}}
network:
  layers:
    - {{name: h1, type: linear, units: 8, activation: relu}}
    - {{name: out, type: linear, units: 10}}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
ensemble: {{members: 4, method: smcl, k: {k}}}
"""


def _member_gradients(network: EnsembleNetwork, name: str) -> torch.Tensor:
    """The gradient of one member-local parameter, members stacked [M, ...]."""
    parameters = network.members.parameters_by_member_name()[name]
    gradients = [torch.zeros_like(parameter) if parameter.grad is None else parameter.grad
                 for parameter in parameters]
    return gradients[0] if len(gradients) == 1 else torch.stack(gradients)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_a_training_step_sends_each_examples_gradient_to_its_k_best_members(k: int) -> None:
    compiled = compile_spec("spec.yaml", [], text=SPEC.format(k=k)).raise_for_errors()
    assert compiled.plan.ensemble.k == k
    network = EnsembleNetwork(compiled.graph, compiled.plan.ensemble)
    settings = RunSettings(tuple(compiled.graph.order), compiled.plan.parameter_groups,
                           compiled.spec.optimizer, None, 1, "class", 10)
    module = EnsembleModule(network, compiled.plan.ensemble, compiled.plan.loss, settings)
    module.log = lambda *arguments, **options: None  # no Trainer to log to
    torch.manual_seed(0)
    for example in range(4):
        inputs, targets = torch.randn(1, 64), torch.tensor([example])
        network.zero_grad(set_to_none=True)
        module.training_step({"inputs": inputs, "targets": targets}, example)[...].backward()
        with torch.no_grad():
            losses = per_member_cross_entropy(network(inputs), targets)[:, 0]  # [M]
        best = set(torch.argsort(losses, stable=True)[:k].tolist())
        reached = {member for member, gradient in enumerate(_member_gradients(network, "layers.out.0.bias"))
                   if gradient.abs().sum() > 0}
        assert reached == best, (losses.tolist(), k)
