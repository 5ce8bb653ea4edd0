"""Backend stage: attention, positional encodings and global pooling compute what they claim —
attention equals torch's reference multi-head attention, padding never changes the outputs at
real positions, and pooling over a padded sequence equals pooling over its real part."""

from __future__ import annotations

import math

import pytest
import torch

from nndsl.backend.modules.attention import MultiHeadAttention, sinusoids
from nndsl.layers import LAYERS

BATCH, STEPS, FEATURES, HEADS = 3, 9, 8, 2


def build(layer_type: str, shapes, **raw):
    record = LAYERS.get(layer_type)
    return record.build(record.Params(**raw), shapes).eval()


def test_self_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    ours = build("self_attention", [("T", FEATURES)], heads=HEADS)
    reference = torch.nn.MultiheadAttention(FEATURES, HEADS, batch_first=True).eval()
    with torch.no_grad():
        weights = [ours.query.weight, ours.key.weight, ours.value.weight]
        reference.in_proj_weight.copy_(torch.cat(weights))
        reference.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        reference.out_proj.weight.copy_(ours.output.weight)
        reference.out_proj.bias.copy_(ours.output.bias)
    inputs = torch.randn(BATCH, STEPS, FEATURES)
    lengths = torch.tensor([STEPS, 5, 2])
    padding = torch.arange(STEPS)[None, :] >= lengths[:, None]  # True = ignore (torch's convention)
    expected, _ = reference(inputs, inputs, inputs, key_padding_mask=padding)
    assert torch.allclose(ours(inputs, lengths=[lengths]), expected, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_padding_does_not_change_real_positions(causal):
    torch.manual_seed(0)
    attention = build("self_attention", [("T", FEATURES)], heads=HEADS, causal=causal)
    lengths = torch.tensor([STEPS, 5, 2])
    inputs = torch.randn(BATCH, STEPS, FEATURES)
    other = inputs.clone()
    for index, length in enumerate(lengths):
        other[index, length:] = 100 * torch.randn(STEPS - length, FEATURES)  # different padding
    first, second = attention(inputs, lengths=[lengths]), attention(other, lengths=[lengths])
    for index, length in enumerate(lengths):
        assert torch.allclose(first[index, :length], second[index, :length], atol=1e-5)
        # ... and equal to running the real part alone, unpadded.
        alone = attention(inputs[index:index + 1, :length], lengths=[lengths[index:index + 1]])
        assert torch.allclose(first[index, :length], alone[0], atol=1e-5)
    assert not torch.allclose(first[1, 5:], second[1, 5:])  # the padded positions themselves differ


def test_causal_attention_ignores_later_positions():
    torch.manual_seed(0)
    attention = build("self_attention", [("T", FEATURES)], heads=HEADS, causal=True)
    inputs = torch.randn(1, STEPS, FEATURES)
    changed = inputs.clone()
    changed[0, 6:] += 5.0
    assert torch.allclose(attention(inputs)[0, :6], attention(changed)[0, :6], atol=1e-5)
    assert not torch.allclose(attention(inputs)[0, 6:], attention(changed)[0, 6:])


def test_cross_attention_masks_the_second_inputs_padding():
    torch.manual_seed(0)
    attention = build("cross_attention", [("T", FEATURES), ("T", 6)], heads=HEADS)
    assert isinstance(attention, MultiHeadAttention)
    queries, memory = torch.randn(BATCH, STEPS, FEATURES), torch.randn(BATCH, 7, 6)
    memory_lengths = torch.tensor([7, 4, 1])
    other = memory.clone()
    other[1, 4:] = 50.0
    other[2, 1:] = -50.0
    first = attention(queries, memory, lengths=[None, memory_lengths])
    changed = attention(queries, other, lengths=[None, memory_lengths])
    assert torch.allclose(first, changed, atol=1e-5)
    alone = attention(queries[1:2], memory[1:2, :4])
    assert torch.allclose(first[1], alone[0], atol=1e-5)


def test_sinusoidal_table_follows_the_formula_and_learned_table_trains():
    table = sinusoids(50, 8)
    position, pair = 17, 2
    angle = position / 10000 ** (2 * pair / 8)
    assert math.isclose(float(table[position, 2 * pair]), math.sin(angle), abs_tol=1e-5)
    assert math.isclose(float(table[position, 2 * pair + 1]), math.cos(angle), abs_tol=1e-5)
    encoding = build("positional_encoding", [("T", 8)])
    inputs = torch.zeros(2, 5, 8)
    assert torch.allclose(encoding(inputs), table[:5].expand(2, 5, 8))
    assert sum(parameter.numel() for parameter in encoding.parameters()) == 0
    learned = build("positional_encoding", [("T", 8)], kind="learned", max_length=6)
    assert learned.table.requires_grad and learned.table.shape == (6, 8)
    with pytest.raises(ValueError, match="max_length 6"):
        learned(torch.zeros(1, 7, 8))
    short = build("positional_encoding", [("T", 8)], max_length=4)  # sines extend past the table
    assert torch.allclose(short(torch.zeros(1, 9, 8))[0], sinusoids(9, 8), atol=1e-6)


@pytest.mark.parametrize("reduce", ["average", "max"])
def test_global_pool_over_a_padded_sequence_uses_only_real_positions(reduce):
    pool = build("global_pool", [("T", 4)], reduce=reduce)
    inputs = torch.randn(BATCH, STEPS, 4)
    lengths = torch.tensor([STEPS, 5, 1])
    inputs[1, 5:] = 1000.0
    pooled = pool(inputs, lengths=lengths)
    for index, length in enumerate(lengths):
        real = inputs[index, :length]
        expected = real.amax(0) if reduce == "max" else real.mean(0)
        assert torch.allclose(pooled[index], expected, atol=1e-5)


def test_global_pool_on_feature_maps_and_channels_first_sequences():
    maps = torch.randn(2, 3, 4, 5)
    assert torch.allclose(build("global_pool", [(3, 4, 5)])(maps), maps.mean((2, 3)))
    sequence = torch.randn(2, 3, 6)  # [B, C, T]
    pooled = build("global_pool", [(3, "T")], reduce="max")(sequence, lengths=torch.tensor([6, 2]))
    assert torch.allclose(pooled[1], sequence[1, :, :2].amax(-1))


GRAPH_SPEC = """nndsl: 1
name: t
data: {source: synthetic_speech, examples: 20, symbols: 4, feature_dim: 10}
network:
  layers:
    - {name: queries, type: linear, units: 8, inputs: input}
    - {name: attend, type: self_attention, heads: 2}
    - {name: channels_first, type: transpose, inputs: input}
    - {name: strided, type: conv1d, channels: 6, kernel: 3, stride: 2, activation: silu}
    - {name: memory, type: transpose}
    - {name: cross, type: cross_attention, heads: 4, inputs: [attend, memory]}
    - {name: out, type: linear, units: 5}
loss: {type: ctc}
optimizer: {type: sgd, lr: 0.1}
"""


def test_graph_module_hands_each_input_its_lengths(tmp_path):
    """Through the graph module, padding changes nothing at the real positions: each attention
    layer gets the lengths of its own inputs (the memory, strided, is shorter than the queries)."""
    from nndsl.api import compile_spec
    from nndsl.backend.graph_module import GraphModule

    path = tmp_path / "spec.yaml"
    path.write_text(GRAPH_SPEC)
    compiled = compile_spec(path)
    assert compiled.diagnostics == (), compiled.diagnostics
    graph = compiled.graph
    assert graph.node("cross").input_shapes == (("T", 8), ("(T-3)/2+1", 6))  # a shorter memory
    torch.manual_seed(0)
    network = GraphModule(graph).eval()
    inputs, lengths = torch.randn(3, 11, 10), torch.tensor([11, 6, 3])
    other = inputs.clone()
    other[1, 6:], other[2, 3:] = 40.0, -40.0
    output, output_lengths = network(inputs, lengths)
    changed, _ = network(other, lengths)
    assert torch.equal(output_lengths, lengths)
    for index, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(output[index, :length], changed[index, :length])
        alone, _ = network(inputs[index:index + 1, :length], lengths[index:index + 1])
        torch.testing.assert_close(output[index, :length], alone[0])


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_cross_attention_saved_bytes_estimate_covers_autograd(dropout):
    from nndsl.backend.saved_tensor_meter import SavedTensorMeter

    record = LAYERS.get("cross_attention")
    params = record.Params(heads=2, dropout=dropout)
    shapes = [(12, 16), (7, 10)]
    module = record.build(params, shapes).train()
    queries = torch.randn(BATCH, *shapes[0], requires_grad=True)
    memory = torch.randn(BATCH, *shapes[1], requires_grad=True)
    saves_input, saves_output, private = record.saved_estimate(params, shapes, (12, 16), BATCH)
    estimate = saves_input * queries.numel() * 4 + private
    with SavedTensorMeter(exclude=list(module.parameters())) as meter:
        module(queries, memory, lengths=[None, torch.tensor([7, 4, 2])])
    assert meter.total_bytes <= estimate <= 1.1 * meter.total_bytes
