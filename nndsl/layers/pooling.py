"""Pooling and normalisation layer types beside maxpool: avgpool, global_pool, rms_norm.

`avgpool` windows like `maxpool` over the trailing axes of channels-first maps. `global_pool`
reduces every position to one vector: channels-first maps `[C, H, W]` / `[C, L]` give `[C]`, a
time-first sequence `[T, F]` gives `[F]`; over a variable length only each example's real
positions count (the padding is masked from the sequence lengths). `rms_norm` scales each
position's features by their root mean square, with a learned gain (no shift, no centring).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nndsl.layers.convolution import MaxPool, MaxPoolParams
from nndsl.layers.dense import _features
from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import format_shape, is_symbolic, require_rank


def _product(shape: tuple[int, ...]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


@layer_type("avgpool")
class AvgPool(MaxPool):
    doc = "average pooling over the trailing axes of [C, L] or [C, H, W]"
    shape_rule = "[C, L] or [C, H, W] → each trailing axis ⌊(n − kernel) / stride⌋ + 1"
    Params = MaxPoolParams

    def saved_estimate(self, params: MaxPoolParams, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        return True, False, 0  # the input (backward reads only its shape; autograd keeps it)

    def build(self, params: MaxPoolParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.pooling import build_avgpool
        return build_avgpool(params, dimensions=len(input_shapes[0]) - 1)


class GlobalPoolParams(LayerParams):
    reduce: Literal["average", "max"] = Field("average",
                                              description="mean or maximum over positions")
    layout: Literal["auto", "channels_first", "time_first"] = Field(
        "auto", description="[C, L] or [T, F] for a two-axis input; `auto` reads it from the "
        "variable-length axis ([C, H, W] is always channels first)")


def pooled_axis(params: GlobalPoolParams, shape: Shape, layer: str) -> int:
    """The axis (of one example) a two-axis input is pooled over: 0 for [T, F], 1 for [C, L]."""
    if params.layout != "auto":
        return 1 if params.layout == "channels_first" else 0
    if is_symbolic(shape[0]) and not is_symbolic(shape[1]):
        return 0
    if is_symbolic(shape[1]) and not is_symbolic(shape[0]):
        return 1
    raise ShapeProblem("E504", f"`{layer}` cannot tell whether {format_shape(shape)} is "
                       "channels-first [C, L] or a sequence [T, F]",
                       "say `layout: channels_first` or `layout: time_first`")


@layer_type("global_pool")
class GlobalPool(LayerType):
    doc = "average or max over all positions: [C, H, W] or [C, L] to [C], [T, F] to [F] (masked)"
    shape_rule = "[C, H, W] → [C]; [C, L] → [C]; [T, F] → [F]"
    Params = GlobalPoolParams

    def output_shape(self, params: GlobalPoolParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2, 3), self.name, "[C, L], [C, H, W] or a sequence [T, F]")
        if len(shape) == 3:
            if params.layout == "time_first":
                raise ShapeProblem("E504", f"`{self.name}` with `layout: time_first` takes a "
                                   f"sequence [T, F], but {format_shape(shape)} are feature maps "
                                   "[C, H, W]",
                                   "drop `layout:` (maps are channels first)")
            kept = shape[0]
        else:
            kept = shape[1 - pooled_axis(params, shape, self.name)]
        if is_symbolic(kept):
            raise ShapeProblem("E504", f"`{self.name}` would keep the variable-length axis of "
                               f"{format_shape(shape)}", "pool over time, not over the features")
        return (kept,)

    def saved_estimate(self, params: GlobalPoolParams, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        # A mean keeps nothing (a padding mask and the counts over a sequence); a maximum keeps
        # its input (or the masked copy) and its result.
        positions = batch * (input_shapes[0][0] if len(input_shapes[0]) == 2 else 1)
        mask = positions + 8 * batch
        return params.reduce == "max", params.reduce == "max", mask

    def build(self, params: GlobalPoolParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.pooling import GlobalPool as Module
        shape = input_shapes[0]
        axes = (2, 3) if len(shape) == 3 else (pooled_axis(params, shape, self.name) + 1,)
        return Module(params.reduce, axes)


class RMSNormParams(LayerParams):
    epsilon: float = Field(1e-6, gt=0, description="added to the mean square")


@layer_type("rms_norm")
class RMSNorm(LayerType):
    doc = "scale each position's last axis by its root mean square, with a learned gain"
    shape_rule = "[..., F], unchanged"
    Params = RMSNormParams

    def saved_estimate(self, params: RMSNormParams, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        # The input, the normalised input and an inverse root mean square per position.
        elements = batch * _product(input_shapes[0])
        return True, False, (elements + elements // input_shapes[0][-1]) * 4

    def parameter_count(self, params: RMSNormParams, input_shapes: list[Shape]) -> int:
        return _features(input_shapes[0], self.name)

    def build(self, params: RMSNormParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.pooling import build_rms_norm
        return build_rms_norm(_features(input_shapes[0], self.name), params.epsilon)
