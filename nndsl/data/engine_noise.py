"""Data stage: the `engine_noise` source, a stream for active noise cancelling (Cho & Lee).

In: the stream's length and sampling rate, the engine's fundamental range, the broadband share,
the acoustic channel's taps and the canceller's delay-line length. Out: one example per time
step n, in stream order: the input is the delay line [x(n), x(n-1), ..., x(n-L+1)] of the
reference noise x, the target is the disturbance at the quiet zone

    d(n) = Σ_k h_k x(n-k) + v(n),

so a network whose output (after its loudspeaker plant) equals d cancels the noise. With
`windows: W` an example is instead the delay lines of steps n-W+1 .. n, time-major [W, L], for a
network that puts the loudspeaker's acoustic channel after itself as a plant (the data's channel
is then the primary path alone). The paper
recorded an engine room at 60 km/h; this stands in for it: engine harmonics whose fundamental
wanders slowly inside 30-60 Hz, plus AR(2) broadband noise (two resonant poles), scaled to a
fixed RMS. The channels of the paper are H1 = 0.894 + 0.447 z⁻¹ (the default) and
H2 = 0.174 + 0.6 z⁻¹ + 0.6 z⁻² + 0.174 z⁻³. numpy is imported only when generating.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.registry import DataArrays, DataSignature, data_source

CHANNEL_H1 = (0.894, 0.447)
CHANNEL_H2 = (0.174, 0.6, 0.6, 0.174)


class EngineNoiseParams(BaseModel):
    """Keys of `data:` for `source: engine_noise` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    samples: int = Field(20_000, ge=100, le=10_000_000, description="length of the stream")
    sample_rate: float = Field(1000.0, ge=200, le=100_000, description="samples per second")
    fundamental: tuple[float, float] = Field((30.0, 60.0), description="range (Hz) the engine's "
                                                                       "fundamental wanders in")
    harmonics: int = Field(4, ge=1, le=32, description="engine harmonics (amplitude 1/k)")
    broadband: float = Field(0.3, ge=0, le=10, description="RMS of the AR(2) broadband part "
                                                           "relative to the harmonic part")
    rms: float = Field(0.5, gt=0, le=100, description="RMS of the reference noise x")
    channel: tuple[float, ...] = Field(CHANNEL_H1, min_length=1, max_length=256,
                                       description="taps of the acoustic channel H (h_0 first)")
    measurement_noise: float = Field(0.0, ge=0, le=100, description="RMS of v(n) at the quiet "
                                                                    "zone's microphone")
    taps: int = Field(25, ge=1, le=4096, description="length L of the canceller's delay line")
    windows: int = Field(1, ge=1, le=256, description="W > 1: each example is the delay lines "
                                                      "of the last W steps, time-major [W, L] "
                                                      "(oldest first), for a canceller whose "
                                                      "output passes a channel plant "
                                                      "(`fir_channel` with `keep: last`)")


def engine_noise(samples: int, sample_rate: float, fundamental: tuple[float, float],
                 harmonics: int, broadband: float, rms: float, seed: int) -> Any:
    """The reference noise x: wandering engine harmonics plus AR(2) broadband, RMS `rms`."""
    import numpy as np
    from scipy.signal import lfilter

    generator = np.random.default_rng([seed, 18])
    time = np.arange(samples) / sample_rate
    low, high = sorted(fundamental)
    # The engine speed drifts smoothly: a slow sinusoid of random period between low and high.
    period = generator.uniform(2.0, 6.0)
    frequency = low + (high - low) * 0.5 * (1 + np.sin(2 * np.pi * time / period))
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    harmonic = sum(np.sin(k * phase + generator.uniform(0, 2 * np.pi)) / k
                   for k in range(1, harmonics + 1))
    harmonic = harmonic / np.sqrt(np.mean(harmonic**2))
    # AR(2) with poles at radius 0.9, angle π/4 (an eighth of the sampling rate): a coloured band.
    radius, angle = 0.9, np.pi / 4
    a1, a2 = 2 * radius * np.cos(angle), -(radius**2)
    band = lfilter([1.0], [1.0, -a1, -a2], generator.standard_normal(samples))
    band = band / np.sqrt(np.mean(band**2))
    noise = harmonic + broadband * band
    return (noise * rms / np.sqrt(np.mean(noise**2))).astype(np.float64)


def filter_channel(signal: Any, taps: tuple[float, ...]) -> Any:
    """Σ_k taps[k] · signal(n - k), zero before the start."""
    import numpy as np

    return np.convolve(signal, np.asarray(taps, dtype=np.float64))[: len(signal)]


def windows_of(rows: Any, count: int) -> Any:
    """[N, count, ...]: for every n the rows n-count+1 .. n, oldest first (zeros before the
    start)."""
    import numpy as np

    padded = np.concatenate([np.zeros((count - 1, *rows.shape[1:]), rows.dtype), rows])
    windows = np.lib.stride_tricks.sliding_window_view(padded, count, axis=0)
    return np.ascontiguousarray(np.moveaxis(windows, -1, 1))


def delay_line(signal: Any, length: int) -> Any:
    """Rows [x(n), x(n-1), ..., x(n-length+1)] for every n (zeros before the start)."""
    import numpy as np

    padded = np.concatenate([np.zeros(length - 1), signal])
    windows = np.lib.stride_tricks.sliding_window_view(padded, length)
    return np.ascontiguousarray(windows[:, ::-1])


@data_source("engine_noise")
class EngineNoise:
    """A synthetic car-engine noise stream through an acoustic channel, for noise cancellers."""

    Params = EngineNoiseParams
    doc = "synthetic engine noise (harmonics + AR(2)) through an FIR channel, for noise cancelling"

    def signature(self, params: EngineNoiseParams, base_directory: Path) -> DataSignature:
        taps = ", ".join(f"{tap:g}" for tap in params.channel)
        shape = (params.taps,) if params.windows == 1 else (params.windows, params.taps)
        return DataSignature(
            input_shape=shape, input_kind="dense", target_kind="regression",
            example_count=params.samples, target_shape=(1,),
            description=f"engine noise stream: {params.samples} samples at "
                        f"{params.sample_rate:g} Hz, {params.taps}-tap delay line"
                        + (f" in windows of {params.windows} steps" if params.windows > 1
                           else "") + f", channel H = [{taps}]")

    def load(self, params: EngineNoiseParams, base_directory: Path, seed: int) -> DataArrays:
        import numpy as np

        reference = engine_noise(params.samples, params.sample_rate, params.fundamental,
                                 params.harmonics, params.broadband, params.rms, seed)
        disturbance = filter_channel(reference, params.channel)
        if params.measurement_noise:
            generator = np.random.default_rng([seed, 19])
            disturbance = disturbance + params.measurement_noise * generator.standard_normal(
                len(disturbance))
        inputs = delay_line(reference, params.taps).astype(np.float32)
        if params.windows > 1:
            inputs = windows_of(inputs, params.windows)
        return DataArrays(inputs=inputs, targets=disturbance.astype(np.float32).reshape(-1, 1))
