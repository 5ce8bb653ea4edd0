"""The `log_mel` layer type: one channel's complex spectra to normalised log mel energies.

Bae & Lee's pipeline (ica-top-down-attention) after the per-bin ICA: linear-to-mel filter bank,
then frame normalisation, then the classifier; being a layer, it is differentiable, so the
classifier's error returns through it to the ICA outputs (their mel-to-linear and frame
re-normalisation steps are its backward pass). In: [..., bins, C, 2] (real, imaginary), the
`ica` layer's complex output. Out: [..., mels], log(mel energies), normalised per frame to zero
mean and unit variance unless `normalise` is off. No parameters.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import format_shape, is_symbolic


class LogMelParams(LayerParams):
    channel: int = Field(0, ge=0, le=255, description="which channel (ICA output) to take")
    mels: int = Field(20, ge=1, le=512, description="mel filters")
    sample_rate: float = Field(8000.0, gt=0, le=1e6,
                               description="sampling rate of the spectra (Hz)")
    normalise: bool = Field(True, description="normalise each frame to zero mean, unit variance")


@layer_type("log_mel")
class LogMel(LayerType):
    doc = "one channel's complex spectra [..., bins, C, 2] to (frame-normalised) log mel energies"
    shape_rule = "[..., bins, C, 2] → [..., mels]"
    Params = LogMelParams

    def output_shape(self, params: LogMelParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        if len(shape) < 3 or shape[-1] != 2 or any(is_symbolic(dim) for dim in shape[-3:]):
            raise ShapeProblem("E504", f"`log_mel` needs complex spectra [..., bins, channels, 2], "
                               f"not {format_shape(shape)}")
        if params.channel >= int(shape[-2]):
            raise ShapeProblem("E504", f"`log_mel` takes channel {params.channel}, but the input "
                               f"has {shape[-2]} channels", "channels count from 0")
        return (*shape[:-3], params.mels)

    def build(self, params: LogMelParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.spectral import LogMelModule
        return LogMelModule(int(input_shapes[0][-3]), params.channel, params.mels,
                            params.sample_rate, params.normalise)
