"""Plant layer types: fixed physical systems between the network's output and the loss.

A plant is written in `network.layers` like any layer, after the layers that learn: the error at
the loss is backpropagated *through* it into the network (the active-noise-cancelling paper's
loudspeaker and acoustic channel). A plant has no trainable parameters (its coefficients are
buffers), is never selected for training, and `nndsl show` marks it. The check stage refuses a
learning layer that reads a plant's output (`nndsl.check.plants`).

    fir_channel    y(t) = Σ_k taps[k] · u(t - k), causal along the time axis of [T, F]
    cubic_speaker  S(u) = u - a·u³, the "simple cubic" loudspeaker (memoryless)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import format_shape

MAX_TAPS = 4096


class FirChannelParams(LayerParams):
    taps: tuple[float, ...] = Field(min_length=1, max_length=MAX_TAPS,
                                    description="impulse response h_0, h_1, ... (h_0 acts on the "
                                                "current step), fixed")


@layer_type("fir_channel")
class FirChannel(LayerType):
    doc = "plant: a fixed causal FIR filter along time, y(t) = Σ taps[k]·u(t-k); never trained"
    shape_rule = "[T, F], unchanged (each feature filtered along T)"
    Params = FirChannelParams
    plant = True

    def output_shape(self, params: FirChannelParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        if len(shape) != 2:
            raise ShapeProblem("E504", f"`fir_channel` filters along time and needs a sequence "
                               f"[T, F], not {format_shape(shape)}",
                               "put the channel in the data (an FIR from the source to the "
                               "target) when the network sees one step at a time")
        return shape

    def build(self, params: FirChannelParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.plants import FirChannelModule
        return FirChannelModule(params.taps)


class CubicSpeakerParams(LayerParams):
    a: float = Field(ge=0, le=1e6, description="distortion coefficient in S(u) = u - a·u³ "
                                               "(0: a linear speaker)")


@layer_type("cubic_speaker")
class CubicSpeaker(LayerType):
    doc = "plant: the 'simple cubic' loudspeaker S(u) = u - a·u³; never trained"
    shape_rule = "any shape, unchanged"
    Params = CubicSpeakerParams
    plant = True

    def build(self, params: CubicSpeakerParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.plants import CubicSpeakerModule
        return CubicSpeakerModule(params.a)
