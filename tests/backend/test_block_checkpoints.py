"""Backend stage: memory budgets on residual networks — whole transformer and ResNet blocks
checkpointed as single units, with outputs, gradients and batch-norm statistics equal to plain
backprop's, and the bytes autograd holds at the peak within the planner's predicted peak."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.saved_tensor_meter import SavedTensorMeter

SPECS = Path(__file__).resolve().parents[2] / "specs"


def compiled_networks(spec: str, budget: str, *overrides: str):
    compiled = compile_spec(SPECS / spec, [f"memory.budget={budget}", *overrides])
    assert compiled.diagnostics == (), compiled.diagnostics
    torch.manual_seed(0)
    budgeted = GraphModule(compiled.graph, memory=compiled.plan.memory)
    plain = GraphModule(compiled.graph)
    plain.load_state_dict(budgeted.state_dict())
    return compiled, budgeted, plain


def batch_for(compiled) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch at the planned length; sequences padded (lengths from the full length down)."""
    generator = torch.Generator().manual_seed(1)
    length = compiled.spec.memory.sequence_length
    batch = compiled.spec.data.batch_size
    dims = (dim if isinstance(dim, int) else length for dim in compiled.graph.input_shape)
    shape = (batch, *dims)
    lengths = torch.linspace(length, length // 3, batch).long() if length else None
    first = compiled.graph.node(compiled.graph.order[0])
    if first.type == "embedding":
        return torch.randint(0, first.params.vocabulary, shape, generator=generator), lengths
    return torch.randn(shape, generator=generator), lengths


def train_step(network: GraphModule, inputs: torch.Tensor, lengths: torch.Tensor | None,
               meter: SavedTensorMeter):
    network.train()
    network.zero_grad()
    network.checkpoint_context = meter.recompute_context
    torch.manual_seed(123)  # the same dropout masks in both networks
    with meter:
        output, _ = network(inputs, lengths)
    (output * torch.linspace(-1, 1, output.numel()).reshape(output.shape)).sum().backward()
    gradients = {name: parameter.grad.clone() for name, parameter in network.named_parameters()}
    return output.detach(), gradients


@pytest.mark.parametrize("spec, budget, blocks, overrides", [
    pytest.param("transformer_markov.yaml", "60%", {"block1", "block2"}, (),
                 marks=pytest.mark.slow),
    ("resnet_digits.yaml", "60%", {"basic1", "basic2", "bottleneck"}, ()),
    pytest.param("resnet_digits.yaml", "46%", {"basic1", "basic2", "bottleneck"}, (),
                 marks=pytest.mark.slow),
    # Padded sequences: attention masks and batch norm inside checkpointed conformer blocks.
    pytest.param("speech_conformer.yaml", "50%", {"conformer1", "conformer2"},
                 ("memory.sequence_length=40",), marks=pytest.mark.slow),
])
def test_blocks_checkpointed_whole_match_plain_backprop_within_the_predicted_peak(
        spec, budget, blocks, overrides):
    compiled, budgeted, plain = compiled_networks(spec, budget, *overrides)
    memory = compiled.plan.memory
    # Whole blocks, not pieces of them, are checkpointed.
    checkpointed = {name for segment in memory.checkpoint_segments for name in segment}
    units = {unit.name: set(unit.nodes) for unit in compiled.graph.units}
    assert checkpointed and any(units[block] <= checkpointed for block in blocks)
    for block in blocks:
        assert units[block] <= checkpointed or not units[block] & checkpointed, block
    inputs, lengths = batch_for(compiled)
    meters = {name: SavedTensorMeter(exclude=[*network.parameters(), *network.buffers(), inputs])
              for name, network in (("budgeted", budgeted), ("plain", plain))}
    budgeted_output, budgeted_gradients = train_step(budgeted, inputs, lengths, meters["budgeted"])
    plain_output, plain_gradients = train_step(plain, inputs, lengths, meters["plain"])
    torch.testing.assert_close(budgeted_output, plain_output)
    for name, gradient in plain_gradients.items():
        torch.testing.assert_close(budgeted_gradients[name], gradient, msg=name)
    # Batch norm statistics moved once, as in plain backprop, although recomputed.
    torch.testing.assert_close(dict(budgeted.named_buffers()), dict(plain.named_buffers()))
    predicted = sum(chain.predicted_peak_bytes for chain in memory.chains)
    plain_predicted = sum(chain.plain_peak_bytes for chain in memory.chains)
    assert meters["budgeted"].peak_bytes <= predicted <= memory.budget_bytes
    assert meters["plain"].peak_bytes <= plain_predicted
    # The checkpoints saved memory.
    assert meters["budgeted"].peak_bytes < meters["plain"].peak_bytes
    print(spec, budget, "measured peak", meters["budgeted"].peak_bytes, "predicted", predicted,
          "plain measured", meters["plain"].peak_bytes, "plain predicted", plain_predicted)
