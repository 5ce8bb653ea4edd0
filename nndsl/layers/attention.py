"""Attention layer types: self_attention, cross_attention, positional_encoding.

Sequences are time first, `[T, D]` (or a fixed number of positions `[N, D]`). Attention is
multi-head scaled dot-product attention (`torch.nn.functional.scaled_dot_product_attention` in
the backend) with learned query, key, value and output projections; padded positions — those
past each sequence's length — are masked out as keys, so they never change the outputs at real
positions. `cross_attention` reads two inputs: queries from the first, keys and values from the
second (an encoder's output, say), masked by the second input's lengths.

Shape rules, parameter counts and saved-activation estimates are pure Python; builders import
the backend lazily.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nndsl.layers.dense import MAX_UNITS, _features
from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import format_shape, is_symbolic, require_rank

FLOAT_BYTES = 4


class AttentionParams(LayerParams):
    heads: int = Field(gt=0, le=1024, description="attention heads; they split the features evenly")
    dropout: float = Field(0.0, ge=0, lt=1,
                           description="dropout on the attention weights (training)")
    causal: bool = Field(False, description="each position attends only to itself and earlier ones")
    bias: bool = Field(True, description="biases in the query, key, value and output projections")


def _head_split(features: int, heads: int, layer: str) -> None:
    if features % heads:
        raise ShapeProblem("E508", f"`{layer}` splits {features} features into {heads} heads, "
                           "which does not divide evenly",
                           f"use a head count that divides {features}, "
                           f"or project to a multiple of {heads}")


def attention_saved(params: AttentionParams, input_shapes: list[tuple[int, ...]], batch: int,
                    masked: bool) -> int:
    """Bytes autograd keeps for one attention layer's backward pass (float32) besides its query
    input, as measured with the backend's module on a CPU: the key/value input when distinct, the
    projected queries, keys and values, the attention output (shared with the output projection's
    input) and either its log-sum-exp per head and query (the fused kernel) or, with dropout on
    the math path, three weight-sized tensors (softmax, mask, dropped weights); a padding mask
    when the length varies."""
    (queries, features), (keys, key_features) = input_shapes[0], input_shapes[-1]
    key_input = batch * keys * key_features if len(input_shapes) == 2 else 0
    projected = batch * (2 * queries * features + 2 * keys * features)
    weights = batch * params.heads * queries * keys
    statistics = 3 * weights if params.dropout > 0 else batch * params.heads * queries
    mask = batch * keys if masked else 0
    return (key_input + projected + statistics + mask) * FLOAT_BYTES


def attention_cost(params: AttentionParams, input_shapes: list[tuple[int, ...]],
                   batch: int) -> float:
    """Forward FLOP-equivalents: the four projections (2 per weight and position), the two
    products with the attention weights and the softmax over them (50 per element, as
    `nndsl.plan.memory.chains` weighs softmax)."""
    (queries, features), (keys, key_features) = input_shapes[0], input_shapes[-1]
    projections = 2.0 * batch * (2 * queries * features * features
                                 + 2 * keys * key_features * features)
    weights = batch * params.heads * queries * keys
    return projections + 4.0 * weights * features / params.heads + 50.0 * weights


class _Attention(LayerType):
    """Shared estimates of self- and cross-attention."""

    Params = AttentionParams

    def saved_estimate(self, params: AttentionParams, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        return True, False, attention_saved(params, input_shapes, batch, masked=True)

    def forward_cost(self, params: AttentionParams, input_shapes: list[tuple[int, ...]],
                     output_shape: tuple[int, ...], batch: int) -> float:
        return attention_cost(params, input_shapes, batch)


@layer_type("self_attention")
class SelfAttention(_Attention):
    doc = ("multi-head self-attention over [T, D] (padding positions masked from the sequence "
           "lengths)")
    shape_rule = "[T, D] → [T, D] (D divisible by heads)"

    def output_shape(self, params: AttentionParams, input_shapes: list[Shape]) -> Shape:
        require_rank(input_shapes[0], (2,), self.name, "a sequence [T, features]")
        _head_split(_features(input_shapes[0], self.name), params.heads, self.name)
        return input_shapes[0]

    def parameter_count(self, params: AttentionParams, input_shapes: list[Shape]) -> int:
        features = _features(input_shapes[0], self.name)
        return 4 * features * features + (4 * features if params.bias else 0)

    def build(self, params: AttentionParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.attention import MultiHeadAttention
        features = _features(input_shapes[0], self.name)
        return MultiHeadAttention(features, features, params.heads, params.dropout, params.causal,
                                  params.bias)


@layer_type("cross_attention")
class CrossAttention(_Attention):
    doc = ("multi-head attention from a sequence [T, D] (first input) to another [S, E] "
           "(second input)")
    shape_rule = "[T, D] and [S, E] → [T, D] (D divisible by heads)"
    inputs = (2, 2)

    def output_shape(self, params: AttentionParams, input_shapes: list[Shape]) -> Shape:
        for shape in input_shapes:
            require_rank(shape, (2,), self.name, "two sequences [T, features] and [S, features]")
        _head_split(_features(input_shapes[0], self.name), params.heads, self.name)
        _features(input_shapes[1], self.name)
        if params.causal and input_shapes[0][0] != input_shapes[1][0]:
            raise ShapeProblem("E502", f"causal `{self.name}` needs two sequences of one length, "
                               f"got {format_shape(input_shapes[0])} and "
                               f"{format_shape(input_shapes[1])}",
                               "causal masking compares positions; drop `causal` to attend "
                               "across lengths")
        return input_shapes[0]

    def parameter_count(self, params: AttentionParams, input_shapes: list[Shape]) -> int:
        features = _features(input_shapes[0], self.name)
        key_features = _features(input_shapes[1], self.name)
        weights = 2 * features * features + 2 * key_features * features
        return weights + (4 * features if params.bias else 0)

    def build(self, params: AttentionParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.attention import MultiHeadAttention
        features = _features(input_shapes[0], self.name)
        key_features = _features(input_shapes[1], self.name)
        return MultiHeadAttention(features, key_features, params.heads, params.dropout,
                                  params.causal, params.bias)


class PositionalEncodingParams(LayerParams):
    kind: Literal["sinusoidal", "learned"] = Field(
        "sinusoidal", description="fixed sines and cosines (Vaswani et al.) or a learned vector "
        "per position")
    max_length: int = Field(
        4096, gt=0, le=MAX_UNITS, description="learned: the longest sequence it can encode (the "
        "table's rows); sinusoidal: the rows precomputed (longer sequences are encoded too)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the sum (training)")


@layer_type("positional_encoding")
class PositionalEncoding(LayerType):
    doc = "adds a position code to each position of [T, D]: sinusoidal or learned"
    shape_rule = "[T, D] → [T, D] (learned: T ≤ max_length; sinusoidal: D even)"
    Params = PositionalEncodingParams

    def output_shape(self, params: PositionalEncodingParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2,), self.name, "a sequence [T, features]")
        features = _features(shape, self.name)
        if params.kind == "sinusoidal" and features % 2:
            raise ShapeProblem("E508", f"sinusoidal `{self.name}` pairs sines and cosines, but the "
                               f"input has an odd feature count {features}",
                               "use an even feature size or `kind: learned`")
        too_long = not is_symbolic(shape[0]) and int(shape[0]) > params.max_length
        if params.kind == "learned" and too_long:
            raise ShapeProblem("E504", f"`{self.name}` encodes at most {params.max_length} "
                               f"positions, but the input has {shape[0]}",
                               f"set `max_length: {shape[0]}` or more")
        return shape

    def saved_estimate(self, params: PositionalEncodingParams, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        # A sum keeps nothing; dropout keeps its scaled mask.
        elements = batch * input_shapes[0][0] * input_shapes[0][1]
        return False, False, elements * FLOAT_BYTES if params.dropout > 0 else 0

    def parameter_count(self, params: PositionalEncodingParams, input_shapes: list[Shape]) -> int:
        if params.kind != "learned":
            return 0
        return params.max_length * _features(input_shapes[0], self.name)

    def build(self, params: PositionalEncodingParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.attention import PositionalEncoding as Module
        return Module(_features(input_shapes[0], self.name), params.kind, params.max_length,
                      params.dropout)
