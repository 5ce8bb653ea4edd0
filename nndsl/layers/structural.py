"""Layer types joining several inputs: add and concat (the DAG form of a network)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import format_shape


@layer_type("add")
class Add(LayerType):
    doc = "elementwise sum of inputs of one shape (residual connections)"
    shape_rule = "n inputs of one shape → that shape"
    inputs = (2, None)

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        first = input_shapes[0]
        for other in input_shapes[1:]:
            if other != first:
                raise ShapeProblem("E502", "`add` needs inputs of one shape, got "
                                   + " and ".join(format_shape(shape) for shape in input_shapes),
                                   "project the inputs to the same size with a linear layer")
        return first

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_add
        return build_add()


class ConcatParams(LayerParams):
    axis: int = Field(-1, description="the axis to join along (negative counts from the end)")


@layer_type("concat")
class Concat(LayerType):
    doc = "join inputs along one axis; the other axes must match"
    shape_rule = "inputs equal but on `axis` → that axis summed"
    Params = ConcatParams
    inputs = (2, None)

    def output_shape(self, params: ConcatParams, input_shapes: list[Shape]) -> Shape:
        rank = len(input_shapes[0])
        axis = params.axis if params.axis >= 0 else rank + params.axis
        listing = " and ".join(format_shape(shape) for shape in input_shapes)
        if not 0 <= axis < rank or any(len(shape) != rank for shape in input_shapes):
            raise ShapeProblem("E502", f"`concat` along axis {params.axis} cannot join {listing}",
                               "inputs need the same number of axes")
        for index in range(rank):
            if index != axis and len({shape[index] for shape in input_shapes}) > 1:
                raise ShapeProblem("E502", f"`concat` along axis {params.axis} needs the other "
                                   f"axes to match, got {listing}",
                                   "check the widths of the joined layers")
        joined = [shape[axis] for shape in input_shapes]
        if any(isinstance(size, str) for size in joined):
            raise ShapeProblem("E502", f"`concat` cannot join along a variable-length axis: "
                                       f"{listing}")
        return (*input_shapes[0][:axis], sum(int(size) for size in joined),
                *input_shapes[0][axis + 1:])

    def build(self, params: ConcatParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_concat
        return build_concat(params.axis)


class SliceParams(LayerParams):
    start: int = Field(ge=0, description="first feature kept (on the last axis)")
    stop: int = Field(gt=0, description="one past the last feature kept")


@layer_type("slice")
class Slice(LayerType):
    doc = "features [start, stop) of the last axis (e.g. one of several one-hot input codes)"
    shape_rule = "[..., F] → [..., stop − start]"
    Params = SliceParams

    def output_shape(self, params: SliceParams, input_shapes: list[Shape]) -> Shape:
        last = input_shapes[0][-1]
        if isinstance(last, str) or not params.start < params.stop <= int(last):
            raise ShapeProblem("E504", f"`slice` [{params.start}, {params.stop}) does not fit the "
                               f"input {format_shape(input_shapes[0])}",
                               "start < stop <= the feature count")
        return (*input_shapes[0][:-1], params.stop - params.start)

    def build(self, params: SliceParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_slice
        return build_slice(params.start, params.stop)
