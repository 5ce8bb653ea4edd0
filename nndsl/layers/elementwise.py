"""Small reshaping and elementwise layer types that current blocks need: scale, glu, transpose.

`scale` multiplies by a constant (the conformer's half-step feed-forward residual), `glu` is the
gated linear unit (the first half of an axis times the logistic of the second half), and
`transpose` swaps the two axes of a sequence, so that a convolution over time can read a
time-first sequence `[T, D]` as channels-first `[D, T]` and hand it back.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import format_shape, is_symbolic, require_rank

FLOAT_BYTES = 4


class ScaleParams(LayerParams):
    factor: float = Field(description="the constant the input is multiplied by")


@layer_type("scale")
class Scale(LayerType):
    doc = "multiply by a constant (e.g. 0.5 for a half-step residual)"
    shape_rule = "any shape, unchanged"
    Params = ScaleParams

    def saved_estimate(self, params: ScaleParams, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        return False, False, 0  # a product with a constant keeps nothing

    def build(self, params: ScaleParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.elementwise import Scale as Module
        return Module(params.factor)


class GLUParams(LayerParams):
    axis: int = Field(-1, description="the axis halved (negative counts from the end)")


@layer_type("glu")
class GatedLinearUnit(LayerType):
    doc = "gated linear unit: first half of an axis times the logistic of the second half"
    shape_rule = "the size on `axis` halved"
    Params = GLUParams

    def output_shape(self, params: GLUParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        axis = params.axis if params.axis >= 0 else len(shape) + params.axis
        if not 0 <= axis < len(shape) or is_symbolic(shape[axis]) or int(shape[axis]) % 2:
            raise ShapeProblem("E508", f"`glu` halves axis {params.axis} of {format_shape(shape)}, "
                               "which needs a fixed, even size there",
                               "double the size of the layer before it")
        return (*shape[:axis], int(shape[axis]) // 2, *shape[axis + 1:])

    def saved_estimate(self, params: GLUParams, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        return True, False, 0  # torch's glu keeps its input

    def build(self, params: GLUParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.elementwise import GatedLinearUnit as Module
        return Module(params.axis if params.axis < 0 else params.axis + 1)


@layer_type("transpose")
class Transpose(LayerType):
    doc = "swap the two axes: a sequence [T, D] to channels-first [D, T] and back"
    shape_rule = "[A, B] → [B, A]"

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        require_rank(input_shapes[0], (2,), self.name, "two axes")
        return (input_shapes[0][1], input_shapes[0][0])

    def saved_estimate(self, params: Any, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int]:
        return False, False, 0  # a view

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.elementwise import Transpose as Module
        return Module()
