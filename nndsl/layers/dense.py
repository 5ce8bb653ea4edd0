"""Layer types acting on the last axis: linear, lwta, whitened_linear, variational_dropout (with
units), embedding, activation, layer_norm, batch_norm.

Shape rules and parameter counts are pure Python; builders import the backend lazily.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import check_size, format_shape, is_symbolic, require_rank

Activation = Literal["linear", "relu", "tanh", "logistic", "softplus", "gelu", "silu", "elu",
                     "leaky_relu", "softmax"]
Initialisation = Literal["default", "uniform", "normal", "xavier", "orthogonal"]
MAX_UNITS = 10_000_000


def _features(shape: Shape, layer: str) -> int:
    require_rank(shape, (1, 2, 3), layer, "features on its last axis")
    last = shape[-1]
    if is_symbolic(last):
        raise ShapeProblem("E504", f"`{layer}` needs a fixed feature size, but the last axis of "
                           f"{format_shape(shape)} is the variable length {last}",
                           "the last axis of a sequence must be its features")
    return int(last)


class LinearParams(LayerParams):
    units: int = Field(gt=0, le=MAX_UNITS, description="output features")
    activation: Activation = Field("linear", description="nonlinearity applied to the output")
    bias: bool = Field(True, description="add a learned bias")
    init: Initialisation = Field("default", description="weight initialisation")
    init_scale: float = Field(0.1, gt=0, description="range (uniform) or deviation (normal) of "
                                                     "`init`")


def _dense_output(params: Any, shapes: list[Shape], layer: str, units: int) -> Shape:
    features = _features(shapes[0], layer)
    check_size(features * units, f"`{layer}`'s weight matrix")
    return (*shapes[0][:-1], units)


@layer_type("linear")
class Linear(LayerType):
    doc = "fully connected layer on the last axis, with an optional activation"
    shape_rule = "[..., F] → [..., units]"
    Params = LinearParams

    def output_shape(self, params: LinearParams, input_shapes: list[Shape]) -> Shape:
        return _dense_output(params, input_shapes, self.name, params.units)

    def parameter_count(self, params: LinearParams, input_shapes: list[Shape]) -> int:
        return (_features(input_shapes[0], self.name) + int(params.bias)) * params.units

    def build(self, params: LinearParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_linear
        return build_linear(params, _features(input_shapes[0], self.name))


class WinnerTakeAllParams(LayerParams):
    blocks: int = Field(gt=0, le=MAX_UNITS, description="number of competing blocks")
    block_size: int = Field(2, ge=2, le=64, description="units per block; only the largest passes")


@layer_type("lwta")
class LocalWinnerTakeAll(LayerType):
    doc = "linear units in blocks where only each block's maximum passes (compete to compute)"
    shape_rule = "[..., F] → [..., blocks × block_size]"
    Params = WinnerTakeAllParams

    def output_shape(self, params: WinnerTakeAllParams, input_shapes: list[Shape]) -> Shape:
        return _dense_output(params, input_shapes, self.name, params.blocks * params.block_size)

    def parameter_count(self, params: WinnerTakeAllParams, input_shapes: list[Shape]) -> int:
        return (_features(input_shapes[0], self.name) + 1) * params.blocks * params.block_size

    def build(self, params: WinnerTakeAllParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_lwta
        return build_lwta(params, _features(input_shapes[0], self.name))


class WhitenedLinearParams(LayerParams):
    units: int = Field(gt=0, le=MAX_UNITS, description="output features")
    activation: Activation = Field("linear", description="nonlinearity applied to the output")
    epsilon: float = Field(1e-2, gt=0, description="added to covariance eigenvalues (trust region)")
    every: int = Field(100, ge=1, description="re-whiten the input every this many updates (T)")
    samples: int = Field(256, ge=2, description="examples used to estimate the input covariance")


@layer_type("whitened_linear")
class WhitenedLinear(LayerType):
    doc = "linear layer on a whitened input, re-whitened every T updates (natural neural networks)"
    shape_rule = "[..., F] → [..., units]"
    Params = WhitenedLinearParams

    def output_shape(self, params: WhitenedLinearParams, input_shapes: list[Shape]) -> Shape:
        return _dense_output(params, input_shapes, self.name, params.units)

    def parameter_count(self, params: WhitenedLinearParams, input_shapes: list[Shape]) -> int:
        return (_features(input_shapes[0], self.name) + 1) * params.units

    def build(self, params: WhitenedLinearParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_whitened_linear
        return build_whitened_linear(params, _features(input_shapes[0], self.name))


class EmbeddingParams(LayerParams):
    vocabulary: int = Field(gt=0, le=MAX_UNITS, description="number of distinct tokens")
    dim: int = Field(gt=0, le=100_000, description="embedding size")


@layer_type("embedding")
class Embedding(LayerType):
    doc = "token ids [T] to vectors [T, dim]"
    shape_rule = "[T] token ids → [T, dim]"
    Params = EmbeddingParams

    def output_shape(self, params: EmbeddingParams, input_shapes: list[Shape]) -> Shape:
        require_rank(input_shapes[0], (1,), self.name, "a sequence of token ids [T]")
        check_size(params.vocabulary * params.dim, "the embedding table")
        return (*input_shapes[0], params.dim)

    def parameter_count(self, params: EmbeddingParams, input_shapes: list[Shape]) -> int:
        return params.vocabulary * params.dim

    def build(self, params: EmbeddingParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_embedding
        return build_embedding(params)


class ActivationParams(LayerParams):
    function: Activation = Field(description="the nonlinearity")


@layer_type("activation")
class ActivationLayer(LayerType):
    doc = "an elementwise nonlinearity"
    shape_rule = "any shape, unchanged"
    Params = ActivationParams

    def activation(self, params: ActivationParams) -> str:
        return params.function

    def build(self, params: ActivationParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_activation
        return build_activation(params.function)


class NormParams(LayerParams):
    epsilon: float = Field(1e-5, gt=0, description="added to the variance")


@layer_type("layer_norm")
class LayerNorm(LayerType):
    doc = "normalise each example's last axis, with a learned scale and shift"
    shape_rule = "[..., F], unchanged"
    Params = NormParams

    def parameter_count(self, params: NormParams, input_shapes: list[Shape]) -> int:
        return 2 * _features(input_shapes[0], self.name)

    def build(self, params: NormParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_layer_norm
        return build_layer_norm(params, _features(input_shapes[0], self.name))


@layer_type("batch_norm")
class BatchNorm(LayerType):
    doc = "normalise features over the batch (channels for conv maps, last axis otherwise)"
    shape_rule = "[C, H, W] or [..., F], unchanged"
    Params = NormParams

    def parameter_count(self, params: NormParams, input_shapes: list[Shape]) -> int:
        shape = input_shapes[0]
        return 2 * (int(shape[0]) if len(shape) == 3 else _features(shape, self.name))

    def build(self, params: NormParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_batch_norm
        return build_batch_norm(params, input_shapes[0])
