"""Data stage: the `mixed_words` source, synthetic words and noise mixed onto two microphones.

A stand-in for Bae & Lee's recordings (ica-top-down-attention): `classes` "words", each a
harmonic voice (pitch 100-180 Hz, varying per utterance) shaped by two formants that glide along
a class-specific path, and a noise of broadband (AR(1)) plus tonal parts, mixed 2×2
instantaneously, x = A [s, n] (or through short FIR paths with `echo`), and distorted by the
microphones, x ← tanh(g·x)/g (the
nonlinearity that breaks ICA's linear-mixing assumption in the paper). Out: one example per
utterance, the complex short-time spectra of both microphones, [frames, bins, 2 mics, 2 (real,
imaginary)] (Hamming window, hop n_fft / 2), and the word's class.

The training and validation examples are clean (the noise is silent, as the paper's classifier
learned noiseless data); the source's own test set, `test_per_class` utterances per word, is
mixed with the noise at `snr` dB (speech power over noise power at microphone 1), or clean when
`snr` is left out. numpy is imported only when generating.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.registry import DataArrays, DataSignature, data_source

SAMPLE_RATE = 8000.0
#: Utterances of one word vary their formant path's ends by up to this share (speakers differ).
SPREAD = 0.15


class MixedWordsParams(BaseModel):
    """Keys of `data:` for `source: mixed_words` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    classes: int = Field(10, ge=2, le=100, description="distinct words")
    train_per_class: int = Field(40, ge=1, le=10_000, description="clean utterances per word "
                                                                  "for training and validation")
    test_per_class: int = Field(10, ge=1, le=10_000, description="mixed utterances per word: "
                                                                 "the source's test set")
    snr: float | None = Field(None, ge=-30, le=60, description="speech-to-noise ratio (dB) at "
                                                               "microphone 1 in the test set; "
                                                               "absent: clean")
    frames: int = Field(16, ge=2, le=1000, description="frames per utterance")
    n_fft: int = Field(128, ge=16, le=4096, description="FFT length (bins = n_fft / 2 + 1)")
    mixing: tuple[tuple[float, float], tuple[float, float]] = Field(
        ((1.0, 0.6), (0.5, 1.0)), description="the 2×2 mixing matrix A (rows: microphones)")
    microphone_gain: float = Field(1.0, ge=0, le=100, description="g of the microphones' "
                                                                  "tanh(g·x)/g; 0: linear")
    echo: float = Field(0.0, ge=0, le=1, description="short-FIR (convolutive) mixing: each path "
                                                     "also carries this share delayed; 0: "
                                                     "instantaneous")
    echo_delay: int = Field(2, ge=1, le=64, description="samples of delay per path index (path "
                                                        "i→j is delayed (i + j + 1) times this)")


def _word(generator: Any, path: Any, samples: int) -> Any:
    """One utterance of the word whose formant path (F1 start/end, F2 start/end) is `path`."""
    import numpy as np

    fraction = np.linspace(0.0, 1.0, samples)
    pitch = generator.uniform(100, 180) * (1 + 0.05 * np.sin(2 * np.pi * fraction))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    jitter = generator.uniform(1 - SPREAD, 1 + SPREAD, size=4)
    first = jitter[0] * path[0] + (jitter[1] * path[1] - jitter[0] * path[0]) * fraction
    second = jitter[2] * path[2] + (jitter[3] * path[3] - jitter[2] * path[2]) * fraction
    voice = np.zeros(samples)
    for harmonic in range(1, 40):
        frequency = harmonic * pitch
        gain = (np.exp(-((frequency - first) / 120.0) ** 2)
                + 0.7 * np.exp(-((frequency - second) / 160.0) ** 2))
        voice += gain * np.sin(harmonic * phase) * (frequency < SAMPLE_RATE / 2)
    return voice * np.sin(np.pi * fraction) ** 0.5


def _noise(generator: Any, samples: int) -> Any:
    import numpy as np
    from scipy.signal import lfilter

    broadband = lfilter([1.0], [1.0, -0.7], generator.standard_normal(samples))
    time = np.arange(samples) / SAMPLE_RATE
    tonal = sum(np.sin(2 * np.pi * frequency * time + generator.uniform(0, 2 * np.pi))
                for frequency in (420.0, 1130.0, 2270.0))
    noise = broadband / broadband.std() + 0.7 * tonal / np.std(tonal)
    return noise


def _spectra(signal: Any, n_fft: int, frames: int) -> Any:
    import numpy as np

    hop = n_fft // 2
    window = np.hamming(n_fft)
    starts = np.arange(frames) * hop
    return np.fft.rfft(np.stack([signal[start:start + n_fft] * window for start in starts]),
                       axis=-1)  # [frames, bins]


def utterances(params: MixedWordsParams, seed: int, per_class: int, snr: float | None,
               stream: int) -> tuple[Any, Any]:
    """`per_class` mixed utterances of every word: spectra [N, frames, bins, 2, 2], labels [N]."""
    import numpy as np

    paths = np.random.default_rng([seed, 20]).uniform([300, 300, 1000, 1000],
                                                      [800, 800, 2200, 2200],
                                                      size=(params.classes, 4))
    generator = np.random.default_rng([seed, 21, stream])
    samples = (params.frames + 1) * (params.n_fft // 2)
    mixing = np.asarray(params.mixing)
    inputs, labels = [], []
    for label in np.tile(np.arange(params.classes), per_class):
        speech = _word(generator, paths[label], samples)
        speech = speech / speech.std()
        noise = _noise(generator, samples) if snr is not None else np.zeros(samples)
        if snr is not None:  # the ratio at microphone 1, as a recording would state it
            noise = noise * abs(mixing[0, 0]) / (abs(mixing[0, 1]) * noise.std()) \
                * 10 ** (-snr / 20)
        sources = np.stack([speech, noise])
        microphones = mixing @ sources
        if params.echo > 0:  # each path i←j adds a delayed copy: a short FIR mixture
            for mic in range(2):
                for source in range(2):
                    delay = (mic + source + 1) * params.echo_delay
                    microphones[mic, delay:] += params.echo * mixing[mic, source] * \
                        sources[source, :-delay]
        microphones = microphones * 0.3  # a peak near 1
        if params.microphone_gain > 0:
            gain = params.microphone_gain
            microphones = np.tanh(gain * microphones) / gain
        spectra = np.stack([_spectra(mic, params.n_fft, params.frames) for mic in microphones],
                           axis=-1)  # [frames, bins, mics]
        inputs.append(np.stack([spectra.real, spectra.imag], axis=-1))
        labels.append(label)
    return np.asarray(inputs, dtype=np.float32), np.asarray(labels, dtype=np.int64)


@data_source("mixed_words")
class MixedWords:
    """Synthetic words and noise on two microphones, as complex spectra, clean for training."""

    Params = MixedWordsParams
    doc = "synthetic words + noise mixed 2x2 onto two microphones: complex spectra, 10 words"

    def signature(self, params: MixedWordsParams, base_directory: Path) -> DataSignature:
        test = params.classes * params.test_per_class
        level = "clean" if params.snr is None else f"{params.snr:g} dB SNR"
        return DataSignature(
            input_shape=(params.frames, params.n_fft // 2 + 1, 2, 2), input_kind="dense",
            target_kind="class", num_classes=params.classes,
            example_count=params.classes * (params.train_per_class + params.test_per_class),
            fixed_test_count=test,
            description=f"{params.classes} synthetic words on 2 microphones: "
                        f"{params.classes * params.train_per_class} clean for training, "
                        f"{test} test utterances at {level}; spectra of {params.frames} frames")

    def load(self, params: MixedWordsParams, base_directory: Path, seed: int) -> DataArrays:
        import numpy as np

        train_inputs, train_labels = utterances(params, seed, params.train_per_class, None, 0)
        test_inputs, test_labels = utterances(params, seed, params.test_per_class, params.snr, 1)
        return DataArrays(
            inputs=np.concatenate([train_inputs, test_inputs]),
            targets=np.concatenate([train_labels, test_labels]),
            class_names=tuple(f"word{index}" for index in range(params.classes)),
            test_indices=np.arange(len(train_labels), len(train_labels) + len(test_labels)))
