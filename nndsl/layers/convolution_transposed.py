"""The transposed convolution layer type, `conv_transpose`: the gradient of a convolution, used to
upsample channels-first maps `[C, L]` or `[C, H, W]` (decoders, U-nets).

Length along each axis: (n - 1) * stride - 2 * padding + kernel + output_padding. Over a
variable length the rule stays symbolic ("T*2" for kernel = stride without padding).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from nndsl.layers.convolution import Pair, _channels, _pair, conv_groups
from nndsl.layers.dense import Activation
from nndsl.layers.registry import Dim, LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import is_symbolic, require_rank

Padding = Annotated[int, Field(ge=0, le=10_000)]
PaddingPair = Padding | tuple[Padding, Padding]


class ConvTransposeParams(LayerParams):
    channels: int = Field(gt=0, le=100_000, description="output channels")
    kernel: Pair = Field(description="window size, one number or [height, width]")
    stride: Pair = Field(1, description="upsampling factor (step between windows in the output)")
    padding: PaddingPair = Field(0, description="positions removed at each border of the output")
    output_padding: PaddingPair = Field(0, description="positions added at one end (smaller than "
                                        "stride)")
    groups: int | Literal["depthwise"] = Field(1, description="channel groups, each convolved "
                                               "separately")
    activation: Activation = Field("linear", description="nonlinearity applied to the output")

    @model_validator(mode="after")
    def _output_padding_below_stride(self) -> ConvTransposeParams:
        for extra, step in zip(_pair(self.output_padding), _pair(self.stride), strict=True):
            if extra >= step:
                raise ValueError(f"output_padding {extra} must be smaller than the stride {step}")
        return self


def transposed_length(dim: Dim, kernel: int, stride: int, padding: int, output_padding: int) -> Dim:
    """(n - 1) * stride - 2 * padding + kernel + output_padding, symbolic for a variable length.

    >>> transposed_length(5, 4, 2, 1, 0)
    10
    >>> transposed_length("T", 2, 2, 0, 0)
    'T*2'
    """
    offset = kernel - 2 * padding + output_padding - stride
    if is_symbolic(dim):
        base = str(dim) if str(dim).replace("/", "").isalnum() else f"({dim})"
        scaled = base if stride == 1 else f"{base}*{stride}"
        return scaled if offset == 0 else f"{scaled}{offset:+d}"
    size = int(dim) * stride + offset
    if size < 1:
        raise ShapeProblem("E503", f"conv_transpose with kernel {kernel}, stride {stride}, padding "
                           f"{padding} turns length {dim} into {size}", "use less padding")
    return size


@layer_type("conv_transpose")
class ConvTranspose(LayerType):
    doc = "transposed convolution (upsampling) over [C, L] or [C, H, W]"
    shape_rule = ("[C, L] or [C, H, W] → [channels, ...], each trailing axis "
                  "(n − 1)·stride − 2·padding + kernel + output_padding")
    Params = ConvTransposeParams

    def output_shape(self, params: ConvTransposeParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2, 3), self.name, "[channels, length] or [channels, height, width]")
        conv_groups(params, _channels(shape, self.name), self.name)
        pairs = [key for key in ("kernel", "stride", "padding", "output_padding")
                 if not isinstance(getattr(params, key), int)]
        if len(shape) == 2 and pairs:
            raise ShapeProblem("E504", f"`{self.name}` over [C, L] takes one number for "
                               f"{', '.join(pairs)}, not a pair", "write e.g. `kernel: 3`")
        kernel, stride = _pair(params.kernel), _pair(params.stride)
        padding, extra = _pair(params.padding), _pair(params.output_padding)
        return (params.channels, *(transposed_length(dim, kernel[index], stride[index],
                                                     padding[index], extra[index])
                                   for index, dim in enumerate(shape[1:])))

    def parameter_count(self, params: ConvTransposeParams, input_shapes: list[Shape]) -> int:
        channels = _channels(input_shapes[0], self.name)
        kernel = _pair(params.kernel)
        window = kernel[0] * (kernel[1] if len(input_shapes[0]) == 3 else 1)
        groups = conv_groups(params, channels, self.name)
        return channels * (params.channels // groups) * window + params.channels

    def build(self, params: ConvTransposeParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.pooling import build_conv_transpose
        channels = _channels(input_shapes[0], self.name)
        return build_conv_transpose(params, channels, conv_groups(params, channels, self.name),
                                    dimensions=len(input_shapes[0]) - 1)
