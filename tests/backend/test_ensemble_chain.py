"""The fast ensemble paths on the members `nndsl train` builds (graph modules from a spec): which
path a spec's ensemble takes, and that it gives the outputs and gradients of the member loop."""

from __future__ import annotations

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.backend.ensemble.chain import chain_layers
from nndsl.backend.ensemble.losses import oracle_loss, per_member_cross_entropy
from nndsl.backend.ensemble.members import Ensemble
from nndsl.backend.ensemble.network import EnsembleNetwork
from nndsl.backend.graph_module import GraphModule
from nndsl.ir import INPUT

pytestmark = pytest.mark.usefixtures("one_thread")

SPEC = """
nndsl: 1
name: ensemble-chain
seed: 1
data: {{source: digits, layout: {layout}, batch_size: 16}}
network:
  layers:
{layers}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
ensemble: {{members: 3, method: smcl}}
"""
MLP = """\
    - {name: h1, type: linear, units: 12, activation: tanh}
    - {name: drop, type: dropout, p: 0.0}
    - {name: h2, type: linear, units: 12, activation: relu}
    - {name: out, type: linear, units: 10}"""
CONV = """\
    - {name: c1, type: conv2d, channels: 4, kernel: 3, padding: same, activation: relu}
    - {name: c2, type: conv2d, channels: 6, kernel: 3, padding: same, activation: tanh}
    - {name: pool, type: maxpool, kernel: 2}
    - {name: flat, type: flatten}
    - {name: h, type: linear, units: 8, activation: relu}
    - {name: out, type: linear, units: 10}"""
# A skip connection: h2 reads h1 and the input's projection, so the member is not a chain.
BRANCHED = """\
    - {name: h1, type: linear, units: 12, activation: relu}
    - {name: h2, type: linear, units: 12, activation: relu}
    - {name: sum, type: add, inputs: [h1, h2]}
    - {name: out, type: linear, units: 10}"""
CASES = {"mlp": (MLP, "flat", (7, 64), "batched-matmul"),
         "conv": (CONV, "image", (7, 1, 8, 8), "grouped-conv")}


def _compiled(layers: str, layout: str):
    text = SPEC.format(layers=layers, layout=layout)
    return compile_spec("spec.yaml", [], text=text).raise_for_errors()


def _ensembles(layers: str, layout: str) -> tuple[Ensemble, Ensemble]:
    """The same graph-module members, stacked on their fast path and in a loop."""
    compiled = _compiled(layers, layout)
    plan = compiled.plan.ensemble

    def member(index: int) -> GraphModule:  # as EnsembleNetwork builds one
        torch.manual_seed(plan.seeds[index])
        return GraphModule(compiled.graph, layers=plan.member_layers, source=INPUT,
                           tensor_only=True)

    return Ensemble(member, plan.members), Ensemble(member, plan.members, vectorise=False)


@pytest.mark.parametrize("per_member", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_on_graph_members_equals_the_member_loop(case: str, per_member: bool) -> None:
    layers, layout, input_shape, path = CASES[case]
    fast, looped = _ensembles(layers, layout)
    assert fast.path == path and looped.path == "loop"
    members = fast.members
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn((members, *input_shape) if per_member else input_shape,
                         generator=generator)
    targets = torch.randint(0, 10, (input_shape[0],), generator=generator)
    outputs = {}
    for name, ensemble in (("fast", fast), ("loop", looped)):
        outputs[name] = ensemble(inputs, per_member=per_member)
        oracle_loss(per_member_cross_entropy(outputs[name], targets), k=2)[0].backward()
    torch.testing.assert_close(outputs["fast"], outputs["loop"], rtol=0, atol=1e-5)
    loop_parameters = looped.parameters_by_member_name()
    for name, (stacked,) in fast.parameters_by_member_name().items():
        expected = torch.stack([parameter.grad for parameter in loop_parameters[name]])
        torch.testing.assert_close(stacked.grad, expected, rtol=0, atol=1e-5)


def test_nndsl_builds_the_fast_path_for_a_chain_and_vmap_for_a_branch() -> None:
    for layers, layout, path in ((MLP, "flat", "batched-matmul"), (CONV, "image", "grouped-conv"),
                                 (BRANCHED, "flat", "vmap")):
        compiled = _compiled(layers, layout)
        network = EnsembleNetwork(compiled.graph, compiled.plan.ensemble)
        assert network.members.path == path


def test_a_member_is_read_as_its_modules_in_order() -> None:
    compiled = _compiled(MLP, "flat")
    member = GraphModule(compiled.graph, tensor_only=True)
    kinds = [type(module).__name__ for module in chain_layers(member)]
    assert kinds == ["Linear", "Tanh", "Dropout", "Linear", "ReLU", "Linear", "Identity"]
    branched = GraphModule(_compiled(BRANCHED, "flat").graph, tensor_only=True)
    assert chain_layers(branched) is None
    assert chain_layers(GraphModule(compiled.graph)) is None  # returns (output, lengths)
