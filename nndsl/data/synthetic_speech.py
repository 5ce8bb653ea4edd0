"""Data stage: the `synthetic_speech` source, generated CTC "speech" for the top-down experiments.

In: the generator's parameters (examples, alphabet, feature size, label lengths, symbol durations,
silence gaps, noise, and two seeds). Out: a `DataSignature` computed from the parameters alone and,
on `load`, padded float32 feature sequences with their frame counts, and padded int64 label
sequences with their lengths (labels 1..symbols; 0 is the CTC blank and pads the label rows).

What it is: each symbol of a small alphabet owns a fixed random feature template (a vector of
`feature_dim` values, 40 by default like the top-down paper's filterbanks). An utterance is a
random label sequence; each symbol is held for a random number of frames, symbols are separated
by random stretches of a "silence" template (always at least one frame between two equal symbols,
so the repeat is audible), and Gaussian noise is added to every frame. The task is therefore a
real CTC alignment problem: a network must find where symbols start and end and read repeats.

What it is not: speech. There is no coarticulation, no speaker or channel variation, no
language model structure in the label sequences (symbols are independent and uniform), and
the frames within one symbol differ only by the noise. Error rates on it say how methods compare,
not what they would reach on WSJ or CHiME-4.

Two seeds of its own, apart from the training seed and the split seed (`data.seed`):
`template_seed` fixes the templates (the "language"), `generator_seed` draws the utterances. Sets
that should share a language, such as a large clean set and a small noisy one for the "frozen good
classifier" experiment, keep the same `template_seed` and differ in `generator_seed`, `examples`
and `noise`.
"""

from __future__ import annotations

import string
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nndsl.data.registry import DataArrays, DataSignature, data_source

BLANK_NAME = "<blank>"


class SyntheticSpeechParams(BaseModel):
    """Keys of `data:` for `source: synthetic_speech` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    examples: int = Field(2000, ge=1, le=1_000_000, description="utterances to generate")
    symbols: int = Field(
        20, ge=1, le=10_000, description="alphabet size, not counting the CTC blank (index 0)"
    )
    feature_dim: int = Field(40, ge=1, le=10_000, description="features per frame")
    min_label_length: int = Field(2, ge=1, description="fewest symbols in an utterance")
    max_label_length: int = Field(8, ge=1, le=1000, description="most symbols in an utterance")
    min_frames_per_symbol: int = Field(2, ge=1, description="shortest duration of a symbol")
    max_frames_per_symbol: int = Field(6, ge=1, le=1000, description="longest duration")
    max_gap_frames: int = Field(
        2, ge=0, le=1000, description="most silence frames between symbols (at least 1 between "
        "equal neighbours) and at either end"
    )
    noise: float = Field(
        0.5, ge=0.0, description="standard deviation of the noise added to every frame "
        "(templates have unit variance)"
    )
    generator_seed: int = Field(0, description="seed drawing the utterances (the data seed)")
    template_seed: int = Field(
        0, description="seed of the symbols' feature templates; equal for sets in one language"
    )

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> SyntheticSpeechParams:
        if self.min_label_length > self.max_label_length:
            raise ValueError("min_label_length must not exceed max_label_length")
        if self.min_frames_per_symbol > self.max_frames_per_symbol:
            raise ValueError("min_frames_per_symbol must not exceed max_frames_per_symbol")
        return self


def symbol_names(symbols: int) -> tuple[str, ...]:
    """Readable label names: the blank, then letters (up to 26 symbols) or "s1", "s2", ..."""
    if symbols <= len(string.ascii_lowercase):
        return (BLANK_NAME, *string.ascii_lowercase[:symbols])
    return (BLANK_NAME, *(f"s{index}" for index in range(1, symbols + 1)))


@data_source("synthetic_speech")
class SyntheticSpeech:
    """Generated CTC "speech": noisy per-symbol feature templates with jittered durations."""

    Params = SyntheticSpeechParams
    doc = "generated CTC speech: random feature template per symbol, jittered durations, noise"

    def signature(self, params: SyntheticSpeechParams, base_directory: Path) -> DataSignature:
        """("T", feature_dim) sequences; labels are symbols + 1 classes including the blank."""
        description = (
            f"synthetic CTC speech: {params.examples} utterances of "
            f"{params.min_label_length}-{params.max_label_length} symbols from {params.symbols} "
            f"(+ blank), {params.min_frames_per_symbol}-{params.max_frames_per_symbol} frames "
            f"each, {params.feature_dim} features, noise {params.noise:g} "
            f"(generator seed {params.generator_seed}, template seed {params.template_seed})"
        )
        return DataSignature(
            input_shape=("T", params.feature_dim),
            input_kind="sequence",
            target_kind="label_sequence",
            num_classes=params.symbols + 1,
            example_count=params.examples,
            description=description,
            target_shape=("L",),
        )

    def load(self, params: SyntheticSpeechParams, base_directory: Path, seed: int) -> DataArrays:
        """Generate the utterances; `seed` is not used (the generator has `generator_seed`)."""
        import numpy as np

        # Row 0 is the silence template, rows 1..symbols the symbols' templates.
        templates = np.random.default_rng(params.template_seed).standard_normal(
            (params.symbols + 1, params.feature_dim)
        )
        generator = np.random.default_rng(params.generator_seed)
        label_rows: list[np.ndarray] = []
        frame_rows: list[np.ndarray] = []
        for _ in range(params.examples):
            length = int(generator.integers(params.min_label_length, params.max_label_length + 1))
            labels = generator.integers(1, params.symbols + 1, size=length)
            # Each frame is labelled by the template it shows: silence (0) or a symbol.
            segments = [np.zeros(generator.integers(0, params.max_gap_frames + 1), dtype=int)]
            for position, label in enumerate(labels):
                duration = generator.integers(
                    params.min_frames_per_symbol, params.max_frames_per_symbol + 1
                )
                segments.append(np.full(duration, label))
                gap = int(generator.integers(0, params.max_gap_frames + 1))
                if position + 1 < length and labels[position + 1] == label:
                    gap = max(gap, 1)
                segments.append(np.zeros(gap, dtype=int))
            frame_rows.append(np.concatenate(segments))
            label_rows.append(labels)

        input_lengths = np.array([len(row) for row in frame_rows], dtype=np.int64)
        target_lengths = np.array([len(row) for row in label_rows], dtype=np.int64)
        frame_labels = np.zeros((params.examples, int(input_lengths.max())), dtype=np.int64)
        targets = np.zeros((params.examples, int(target_lengths.max())), dtype=np.int64)
        for index, (frames, labels) in enumerate(zip(frame_rows, label_rows)):
            frame_labels[index, : len(frames)] = frames
            targets[index, : len(labels)] = labels
        inputs = templates[frame_labels]
        inputs += params.noise * generator.standard_normal(inputs.shape)
        # Padding frames carry zeros, not silence plus noise, so they hold no information.
        valid = np.arange(frame_labels.shape[1])[None, :] < input_lengths[:, None]
        inputs *= valid[:, :, None]
        return DataArrays(
            inputs=inputs.astype(np.float32),
            targets=targets,
            input_lengths=input_lengths,
            target_lengths=target_lengths,
            class_names=symbol_names(params.symbols),
        )
