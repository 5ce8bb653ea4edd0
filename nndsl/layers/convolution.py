"""Convolution, pooling and reshaping layer types: conv1d, conv2d (grouped with `groups:`), maxpool,
flatten, add_channel, to_sequence.

Channels come first: conv1d takes [C, L], conv2d [C, H, W]. Speech features [T, F] become an
image with `add_channel` ([1, T, F]) and a sequence again with `to_sequence` ([C, T', F'] ->
[T', C*F']), as in the top-down paper's CNN-BLSTM.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from nndsl.layers.dense import Activation
from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import (element_count, format_shape, is_symbolic, require_rank,
                                 window_output)

# Window sizes and steps are positive (a zero stride divides by zero), paddings non-negative.
Size = Annotated[int, Field(gt=0, le=10_000)]
Pair = Size | tuple[Size, Size]
Padding = Annotated[int, Field(ge=0, le=10_000)]
PaddingPair = Padding | tuple[Padding, Padding]


def _pair(value: Pair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else value


def _channels(shape: Shape, layer: str) -> int:
    if is_symbolic(shape[0]):
        raise ShapeProblem("E504", f"`{layer}` takes channels first, but {format_shape(shape)} "
                           f"starts with a variable length",
                           "use add_channel to turn [T, F] into [1, T, F]")
    return int(shape[0])


def conv_groups(params: Any, channels: int, layer: str) -> int:
    """The group count of a convolution (`depthwise`: one per input channel); both channel counts
    must divide by it."""
    groups = channels if params.groups == "depthwise" else params.groups
    if channels % groups or params.channels % groups:
        raise ShapeProblem("E508", f"`{layer}` with {groups} groups needs input channels "
                           f"({channels}) and "
                           f"output channels ({params.channels}) divisible by {groups}",
                           "choose a group count dividing both channel counts")
    return groups


class Conv1dParams(LayerParams):
    channels: int = Field(gt=0, le=100_000, description="output channels")
    kernel: int = Field(gt=0, le=10_000, description="window length")
    stride: int = Field(1, gt=0, description="step between windows")
    padding: int | Literal["same"] = Field(0, description="zeros added at each end, or `same`")
    activation: Activation = Field("linear", description="nonlinearity applied to the output")
    groups: int | Literal["depthwise"] = Field(
        1, description="channel groups, each convolved separately (`depthwise`: one per input "
        "channel)")


@layer_type("conv1d")
class Conv1d(LayerType):
    doc = "1-D convolution over [C, L]"
    shape_rule = "[C, L] → [channels, ⌊(L + 2·padding − kernel) / stride⌋ + 1]"
    Params = Conv1dParams

    def output_shape(self, params: Conv1dParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2,), self.name, "[channels, length]")
        conv_groups(params, _channels(shape, self.name), self.name)
        padding = params.kernel // 2 if params.padding == "same" else params.padding
        return (params.channels,
                window_output(shape[1], params.kernel, params.stride, padding, self.name))

    def parameter_count(self, params: Conv1dParams, input_shapes: list[Shape]) -> int:
        channels = _channels(input_shapes[0], self.name)
        per_group = channels // conv_groups(params, channels, self.name)
        return (per_group * params.kernel + 1) * params.channels

    def build(self, params: Conv1dParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_conv
        channels = _channels(input_shapes[0], self.name)
        groups = conv_groups(params, channels, self.name)
        return build_conv(params, channels, dimensions=1, groups=groups)


class Conv2dParams(LayerParams):
    channels: int = Field(gt=0, le=100_000, description="output channels")
    kernel: Pair = Field(description="window size, one number or [height, width]")
    stride: Pair = Field(1, description="step between windows")
    padding: PaddingPair | Literal["same"] = Field(0, description="zeros added at each border, "
                                                              "or `same`")
    activation: Activation = Field("linear", description="nonlinearity applied to the output")
    groups: int | Literal["depthwise"] = Field(
        1, description="channel groups, each convolved separately (`depthwise`: one per input "
        "channel)")


@layer_type("conv2d")
class Conv2d(LayerType):
    doc = "2-D convolution over [C, H, W]"
    shape_rule = ("[C, H, W] → [channels, H′, W′], each axis "
                  "⌊(n + 2·padding − kernel) / stride⌋ + 1")
    Params = Conv2dParams

    def output_shape(self, params: Conv2dParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (3,), self.name, "[channels, height, width]")
        conv_groups(params, _channels(shape, self.name), self.name)
        kernel, stride = _pair(params.kernel), _pair(params.stride)
        padding = ((kernel[0] // 2, kernel[1] // 2) if params.padding == "same"
                   else _pair(params.padding))
        return (params.channels,
                window_output(shape[1], kernel[0], stride[0], padding[0], self.name),
                window_output(shape[2], kernel[1], stride[1], padding[1], self.name))

    def parameter_count(self, params: Conv2dParams, input_shapes: list[Shape]) -> int:
        kernel = _pair(params.kernel)
        channels = _channels(input_shapes[0], self.name)
        per_group = channels // conv_groups(params, channels, self.name)
        return (per_group * kernel[0] * kernel[1] + 1) * params.channels

    def build(self, params: Conv2dParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_conv
        channels = _channels(input_shapes[0], self.name)
        groups = conv_groups(params, channels, self.name)
        return build_conv(params, channels, dimensions=2, groups=groups)


class MaxPoolParams(LayerParams):
    kernel: Pair = Field(2, description="window size")
    stride: Pair | None = Field(None, description="step between windows (default: the kernel)")


@layer_type("maxpool")
class MaxPool(LayerType):
    doc = "max pooling over the trailing axes of [C, L] or [C, H, W]"
    shape_rule = "[C, L] or [C, H, W] → each trailing axis ⌊(n − kernel) / stride⌋ + 1"
    Params = MaxPoolParams

    def output_shape(self, params: MaxPoolParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2, 3), self.name, "[channels, length] or [channels, height, width]")
        kernel = _pair(params.kernel)
        stride = _pair(params.stride if params.stride is not None else params.kernel)
        spatial = shape[1:]
        pooled = [window_output(dim, kernel[index], stride[index], 0, self.name)
                  for index, dim in enumerate(spatial)]
        return (shape[0], *pooled)

    def build(self, params: MaxPoolParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_maxpool
        return build_maxpool(params, dimensions=len(input_shapes[0]) - 1)


@layer_type("flatten")
class Flatten(LayerType):
    doc = "all axes of an example into one"
    shape_rule = "[d1, d2, ...] (fixed sizes) → [d1 · d2 · ...]"

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        count = element_count(input_shapes[0])
        if count is None:
            raise ShapeProblem("E504", f"`flatten` cannot flatten {format_shape(input_shapes[0])}: "
                               "it has a variable length", "pool over time first, or use a "
                                                           "recurrent layer")
        return (count,)

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_flatten
        return build_flatten()


@layer_type("add_channel")
class AddChannel(LayerType):
    doc = "[T, F] to a one-channel image [1, T, F]"
    shape_rule = "[T, F] → [1, T, F]; [L] → [1, L]"

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        require_rank(input_shapes[0], (1, 2), self.name, "[T, F] or [L]")
        return (1, *input_shapes[0])

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_add_channel
        return build_add_channel()


@layer_type("to_sequence")
class ToSequence(LayerType):
    doc = "feature maps [C, T, F] to a sequence of frames [T, C*F]"
    shape_rule = "[C, T, F] → [T, C · F]"

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (3,), self.name, "[channels, time, features]")
        if is_symbolic(shape[2]):
            raise ShapeProblem("E504", f"`to_sequence` needs fixed features, got "
                                       f"{format_shape(shape)}")
        return (shape[1], _channels(shape, self.name) * int(shape[2]))

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_to_sequence
        return build_to_sequence()
