"""The `ica` layer type: an unmixing matrix u = W x learned by natural-gradient infomax.

Its update is not a loss gradient: the backward pass of the built module hands W the direction
of Bae & Lee's eq. (3) (ica-top-down-attention), with the sign an optimiser's descent expects,

    -ΔW = -[I - φ(u) uᴴ] W  -  γ · Δu xᴴ,     Δu = -∂E/∂u (the error arriving from above),

so plain SGD performs the infomax update plus γ times the attention error. Real mode unmixes the
last axis [..., C] with φ = tanh; complex mode unmixes each frequency bin of [..., bins, C, 2]
(real and imaginary parts on the last axis; frames on the leading axes) with its own complex
W(f) and φ(z) = tanh(Re z) + j·tanh(Im z). W starts at the identity.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nndsl.layers.registry import (LayerParams, LayerType, LossTerm, Shape, ShapeProblem,
                                   layer_type)
from nndsl.layers.shapes import format_shape, is_symbolic

MAX_CHANNELS = 256


class IcaParams(LayerParams):
    complex: bool = Field(False, description="per-frequency-bin complex unmixing of "
                                             "[..., bins, C, 2] (real, imaginary) instead of real "
                                             "[..., C]")
    gamma: float = Field(1.0, ge=0, le=1e6, description="γ: weight of the error arriving from "
                                                        "above (top-down attention) against the "
                                                        "independence term")
    independence: bool = Field(True, description="add the loss term `independence`, the "
                                                 "infomax direction [I - φ(u)uᴴ]W, weighted by "
                                                 "`loss.terms` (off: W learns from the error "
                                                 "alone)")


def _channels(params: IcaParams, shape: Shape) -> int:
    if params.complex:
        if len(shape) < 3 or shape[-1] != 2 or any(is_symbolic(dim) for dim in shape[-3:]):
            raise ShapeProblem("E504", f"complex `ica` needs [..., bins, channels, 2] (real, "
                               f"imaginary), not {format_shape(shape)}",
                               "put each frame's spectrum per microphone on the middle axis")
        channels = int(shape[-2])
    else:
        if is_symbolic(shape[-1]):
            raise ShapeProblem("E504", f"`ica` needs a fixed number of channels on the last axis, "
                               f"not {format_shape(shape)}")
        channels = int(shape[-1])
    if channels > MAX_CHANNELS:
        raise ShapeProblem("E504", f"`ica` unmixes at most {MAX_CHANNELS} channels, "
                           f"not {channels}")
    return channels


@layer_type("ica")
class IndependentComponents(LayerType):
    doc = "unmixing u = W x, natural-gradient infomax [I - φ(u)uᴴ]W plus γ·Δu xᴴ from above"
    shape_rule = "[..., C] → [..., C]; complex: [..., bins, C, 2] → [..., bins, C, 2]"
    Params = IcaParams
    # The infomax direction is a natural gradient, not the gradient of a loss: the term is zero
    # in value and has that direction, negated, as its gradient with respect to W.
    loss_terms = (LossTerm("independence", "infomax direction [I - φ(u)uᴴ]W"),)

    def declared_loss_terms(self, params: IcaParams) -> tuple[LossTerm, ...]:
        return self.loss_terms if params.independence else ()

    def output_shape(self, params: IcaParams, input_shapes: list[Shape]) -> Shape:
        _channels(params, input_shapes[0])
        return input_shapes[0]

    def parameter_count(self, params: IcaParams, input_shapes: list[Shape]) -> int:
        channels = _channels(params, input_shapes[0])
        if params.complex:
            return int(input_shapes[0][-3]) * channels * channels * 2
        return channels * channels

    def build(self, params: IcaParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.independent_components import IcaModule
        shape = input_shapes[0]
        bins = int(shape[-3]) if params.complex else None
        return IcaModule(_channels(params, shape), bins, params.gamma, params.independence)
