"""Backend stage: checkpoint segments of feed-forward chains — the planner's per-layer byte
estimates against autograd's saved tensors, gradients equal to plain backprop (dropout
included), and counted saved bytes within the planned peak on a real MLP."""

from __future__ import annotations

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.saved_tensor_meter import SavedTensorMeter
from nndsl.ir.graph import GraphNode
from nndsl.layers import LAYERS
from nndsl.plan.memory.chains import chain_layers
from nndsl.plan.memory.segments import owned_bytes

BATCH = 8
LAYER_CASES = [
    ("linear", {"units": 32, "activation": "tanh"}, (16,)),
    ("linear", {"units": 32, "activation": "gelu"}, (16,)),
    ("linear", {"units": 32}, (5, 16)),
    ("lwta", {"blocks": 8, "block_size": 2}, (16,)),
    ("whitened_linear", {"units": 32, "activation": "relu"}, (16,)),
    ("variational_dropout", {"units": 32}, (16,)),
    ("variational_dropout", {"units": 32, "variant": "A"}, (16,)),
    ("variational_dropout", {}, (16,)),
    ("activation", {"function": "softplus"}, (16,)),
    ("dropout", {"p": 0.5}, (16,)),
    ("gaussian_dropout", {"p": 0.5}, (16,)),
    ("layer_norm", {}, (5, 16)),
    ("batch_norm", {}, (4, 6, 6)),
    ("conv1d", {"channels": 8, "kernel": 3, "activation": "relu"}, (4, 20)),
    ("conv2d", {"channels": 8, "kernel": 3, "activation": "tanh"}, (4, 10, 10)),
    ("maxpool", {"kernel": 2}, (4, 10, 10)),
    ("flatten", {}, (4, 10, 10)),
    ("to_sequence", {}, (4, 10, 16)),
    ("embedding", {"vocabulary": 50, "dim": 16}, (10,)),
    ("self_attention", {"heads": 4}, (10, 16)),
    ("self_attention", {"heads": 2, "dropout": 0.1, "causal": True}, (12, 16)),
    ("positional_encoding", {"kind": "learned", "max_length": 20}, (10, 16)),
    ("positional_encoding", {"dropout": 0.1}, (10, 16)),
    ("avgpool", {"kernel": 2}, (4, 10, 10)),
    ("global_pool", {"reduce": "max"}, (4, 10, 10)),
    ("rms_norm", {}, (10, 16)),
    ("conv_transpose", {"channels": 8, "kernel": 2, "stride": 2, "activation": "silu"}, (4, 10, 10)),
    ("conv2d", {"channels": 8, "kernel": 3, "groups": 4, "activation": "gelu"}, (4, 10, 10)),
    ("activation", {"function": "silu"}, (16,)),
    ("glu", {}, (10, 16)),
]


@pytest.mark.parametrize("kind, raw, shape", LAYER_CASES, ids=[f"{case[0]}-{index}" for index, case in
                                                             enumerate(LAYER_CASES)])
def test_saved_bytes_estimate_covers_what_autograd_saves(kind, raw, shape):
    record = LAYERS.get(kind)
    params = record.Params(**raw)
    node = GraphNode(name="layer", type=kind, params=params, inputs=("previous",), input_shapes=(shape,),
                     output_shape=record.output_shape(params, [shape]),
                     parameter_count=record.parameter_count(params, [shape]), activation="", unit="layer",
                     block=None, span=None)
    estimate = owned_bytes(chain_layers(None, [node], BATCH, None), 0)  # type: ignore[arg-type]
    module = record.build(params, [shape]).train()
    inputs = torch.randint(0, 50, (BATCH, *shape)) if kind == "embedding" else torch.randn(BATCH, *shape,
                                                                                          requires_grad=True)
    with SavedTensorMeter(exclude=[*module.parameters(), *module.buffers()]) as meter:
        module(inputs)
    # Estimates may over-count (variational dropout's weight-sized terms), never under-count.
    assert meter.total_bytes <= estimate <= 1.1 * meter.total_bytes


SPEC = """nndsl: 1
name: chain
data: {{source: digits, batch_size: 32}}
network:
  layers:
    - {{name: h1, type: linear, units: 256, activation: relu}}
    - {{name: d1, type: dropout, p: 0.3}}
    - {{name: h2, type: linear, units: 24, activation: tanh}}
    - {{name: h3, type: linear, units: 384, activation: gelu}}
    - {{name: d3, type: gaussian_dropout, p: 0.3}}
    - {{name: h4, type: layer_norm}}
    - {{name: h5, type: linear, units: 16, activation: tanh}}
    - {{name: h6, type: linear, units: 128, activation: relu}}
    - {{name: out, type: linear, units: 10}}
loss: {{type: cross_entropy}}
memory: {{budget: "{budget}", policy: {policy}}}
optimizer: {{type: sgd, lr: 0.1}}
"""


def networks(tmp_path, budget: str, policy: str = "optimal"):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(budget=budget, policy=policy))
    result = compile_spec(path)
    assert result.diagnostics == (), result.diagnostics
    torch.manual_seed(0)
    budgeted = GraphModule(result.graph, memory=result.plan.memory)
    plain = GraphModule(result.graph)
    plain.load_state_dict(budgeted.state_dict())
    return result.plan.memory, budgeted, plain


def step(network: GraphModule, inputs: torch.Tensor, meter: SavedTensorMeter) -> tuple[torch.Tensor, list]:
    """One forward and backward pass (the forward under the meter), fixed random state."""
    network.train()
    network.zero_grad()
    network.checkpoint_context = meter.recompute_context
    torch.manual_seed(123)
    with meter:
        output, _ = network(inputs)
    (output * torch.linspace(-1, 1, output.numel()).reshape(output.shape)).sum().backward()
    return output.detach(), [parameter.grad.clone() for parameter in network.parameters()]


@pytest.mark.parametrize("budget, policy", [("45%", "optimal"), ("70%", "optimal"), ("90%", "sqrt")])
def test_checkpointed_chain_matches_plain_gradients_and_keeps_within_the_plan(tmp_path, budget, policy):
    memory, budgeted, plain = networks(tmp_path, budget, policy)
    assert memory.checkpoint_segments, "the plan should checkpoint something"
    inputs = torch.randn(32, 64)
    meters = {name: SavedTensorMeter(exclude=[*network.parameters(), inputs])
              for name, network in (("budgeted", budgeted), ("plain", plain))}
    budgeted_output, budgeted_gradients = step(budgeted, inputs, meters["budgeted"])
    plain_output, plain_gradients = step(plain, inputs, meters["plain"])
    torch.testing.assert_close(budgeted_output, plain_output)
    for budgeted_gradient, plain_gradient in zip(budgeted_gradients, plain_gradients, strict=True):
        torch.testing.assert_close(budgeted_gradient, plain_gradient)
    chain = memory.chains[0]
    # Counted bytes (each storage once, recomputation included) within the prediction, and the
    # prediction exact here: the estimates match these layer types byte for byte.
    assert meters["budgeted"].peak_bytes <= chain.predicted_peak_bytes <= chain.budget_bytes
    assert meters["plain"].peak_bytes == chain.plain_peak_bytes
    assert meters["budgeted"].peak_bytes == chain.predicted_peak_bytes
    # Recomputation really happened: more bytes were saved in all than were ever held at once.
    assert meters["budgeted"].total_bytes > meters["budgeted"].peak_bytes


def test_evaluation_and_no_grad_run_without_checkpoints(tmp_path):
    _, budgeted, plain = networks(tmp_path, "45%")
    inputs = torch.randn(4, 64)
    budgeted.eval()
    plain.eval()
    with SavedTensorMeter() as meter:
        torch.testing.assert_close(budgeted(inputs)[0], plain(inputs)[0])
    with torch.no_grad():
        torch.testing.assert_close(budgeted(inputs)[0], plain(inputs)[0])
    assert meter.total_bytes > 0  # evaluation with gradients on still runs plainly (no checkpoint frames)


def test_a_segment_whose_inner_layer_is_the_output_runs_plainly(tmp_path):
    memory, _, _ = networks(tmp_path, "45%")
    inner = next(segment for segment in memory.checkpoint_segments if len(segment) > 1)
    graph = compile_spec(tmp_path / "spec.yaml").graph
    upper = GraphModule(graph, memory=memory, output=inner[0])  # a trunk ending inside a segment
    assert set(upper.segments) == {segment[0] for segment in memory.checkpoint_segments} - {inner[0]}
    output, _ = upper.train()(torch.randn(4, 64))
    assert output.shape == (4, graph.node(inner[0]).output_shape[0])
    output.sum().backward()
