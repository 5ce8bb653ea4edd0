"""Plant layer types: fixed physical systems between the network's output and the loss.

A plant is written in `network.layers` like any layer, after the layers that learn: the error at
the loss is backpropagated *through* it into the network (the active-noise-cancelling paper's
loudspeaker and acoustic channel). A plant has no trainable parameters (its coefficients are
buffers), is never selected for training, and `nndsl show` marks it. The check stage refuses a
learning layer that reads a plant's output (`nndsl.check.plants`).

    fir_channel    y(t) = Σ_k taps[k] · u(t - k), causal along the time axis of [T, F] or of a
                   flat vector [W] (one signal, oldest step first); `keep: last` keeps only the
                   newest step's output ([F], or [1])
    cubic_speaker  S(u) = u - a·u³, the "simple cubic" loudspeaker (memoryless)

Time-major windows are how a feed-forward canceller puts the channel after itself (Cho & Lee's
Fig. 4: the canceller's output passes the loudspeaker and the acoustic channel C2, and the error
is taken at the microphone behind them): each example holds the canceller's inputs for the last
W ≥ len(taps) steps ([W, L], e.g. `engine_noise` with `windows: W`), the network runs on every
step of the window, and `fir_channel` with `keep: last` turns its W outputs into the one the
microphone hears now, so the error reaches every one of them through the channel's taps.
A window shorter than the taps would hide part of the channel's memory: E504.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import format_shape

MAX_TAPS = 4096


class FirChannelParams(LayerParams):
    taps: tuple[float, ...] = Field(min_length=1, max_length=MAX_TAPS,
                                    description="impulse response h_0, h_1, ... (h_0 acts on the "
                                                "current step), fixed")
    keep: Literal["all", "last"] = Field("all", description="all: the filtered signal at every "
                                                            "step; last: only the newest step's "
                                                            "(a window's output now)")


_WINDOW_HINT = ("put the channel in the data (an FIR from the source to the target) when the "
                "network sees one step at a time, or give it time-major windows of at least as "
                "many steps as taps (engine_noise's `windows:`) and `keep: last`")


@layer_type("fir_channel")
class FirChannel(LayerType):
    doc = "plant: a fixed causal FIR filter along time, y(t) = Σ taps[k]·u(t-k); never trained"
    shape_rule = ("[T, F] → [T, F] (each feature filtered along T), [W] → [W] (a window of one "
                  "signal, oldest first); `keep: last`: [F] or [1], the newest step")
    Params = FirChannelParams
    plant = True

    def output_shape(self, params: FirChannelParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        if len(shape) not in (1, 2):
            raise ShapeProblem("E504", f"`fir_channel` filters along time and needs a sequence "
                               f"or window [T, F], or a flat window [W], not "
                               f"{format_shape(shape)}", _WINDOW_HINT)
        steps = shape[0]
        if len(shape) == 1 or params.keep == "last":
            # A window stands for the last W steps alone: it must span the channel's memory.
            if not isinstance(steps, int) or steps < len(params.taps):
                raise ShapeProblem("E504", f"`fir_channel` with {len(params.taps)} taps on a "
                                   f"window of {steps} step(s) ({format_shape(shape)}) would "
                                   "take the steps before the window as silence",
                                   _WINDOW_HINT)
        if params.keep == "all":
            return shape
        return (1,) if len(shape) == 1 else (shape[1],)

    def build(self, params: FirChannelParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.plants import FirChannelModule
        return FirChannelModule(params.taps, params.keep == "last")


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
