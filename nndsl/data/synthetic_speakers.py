"""Data stage: the `synthetic_speakers` source, generated speaker identification for relative
density nets (Brown & Hinton's speaker task, on generated sequences).

In: the generator's parameters (speakers, sequences per speaker, states, frame size, lengths, how
far apart speakers are, a seed). Out: a `DataSignature` computed from the parameters alone and, on
`load`, zero-padded float32 sequences `[N, T_max, F]` with their frame counts, and one speaker
index per sequence (a class target).

What it is: each speaker is a random HMM with 3-5 states (`min_states`..`max_states`) and one
diagonal Gaussian per state over `feature_dim` (24) features, like the log mel filterbank frames of
Brown & Hinton's CSLU experiment. Speakers overlap on purpose: every state's mean is one of a few
"sounds" shared by all speakers (`sounds`, drawn once) plus a small speaker-specific offset
(`speaker_spread`), and its deviations lie within a factor e^±spread of 1; a speaker keeps to a
state for several frames (self-transition probability 0.6-0.95). A sequence is T = 50-150
frames sampled from its speaker's HMM. Telling speakers apart needs the small offsets, the
variances, and which sounds a speaker uses and in which order.

What it is not: speech. Real speakers differ by vocal tract and channel in ways no 5-state HMM
captures; here the generating process is exactly an HMM of the kind the models fit, so a
per-class HMM is a correct generative model and results say how the architectures compare on
HMM-generated data, not what they would reach on CSLU.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nndsl.data.registry import DataArrays, DataSignature, data_source


class SyntheticSpeakersParams(BaseModel):
    """Keys of `data:` for `source: synthetic_speakers` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    speakers: int = Field(12, ge=2, le=1000, description="speakers (classes)")
    sequences_per_speaker: int = Field(48, ge=1, le=10_000, description="sequences of each speaker")
    feature_dim: int = Field(24, ge=1, le=1000, description="features per frame")
    min_states: int = Field(3, ge=1, le=100, description="fewest states of a speaker's HMM")
    max_states: int = Field(5, ge=1, le=100, description="most states of a speaker's HMM")
    min_length: int = Field(50, ge=1, le=100_000, description="shortest sequence, in frames")
    max_length: int = Field(150, ge=1, le=100_000, description="longest sequence, in frames")
    sounds: int = Field(6, ge=1, le=1000, description="state means shared by all speakers")
    speaker_spread: float = Field(
        0.1, ge=0, description="deviation of a speaker's offset from the shared sound means, and "
        "log-range of its deviations around 1 (smaller: speakers overlap more)")
    generator_seed: int = Field(0, description="seed drawing the speakers and their sequences")

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> SyntheticSpeakersParams:
        if self.min_states > self.max_states:
            raise ValueError("min_states must not exceed max_states")
        if self.min_length > self.max_length:
            raise ValueError("min_length must not exceed max_length")
        return self


def speaker_names(speakers: int) -> tuple[str, ...]:
    """"speaker01", "speaker02", ... (zero-padded so they sort)."""
    width = len(str(speakers))
    return tuple(f"speaker{index + 1:0{width}d}" for index in range(speakers))


@data_source("synthetic_speakers")
class SyntheticSpeakers:
    """Generated speaker identification: one random Gaussian HMM per speaker, overlapping means."""

    Params = SyntheticSpeakersParams
    doc = "generated speaker identification: a random Gaussian HMM per speaker (synthetic)"

    def signature(self, params: SyntheticSpeakersParams, base_directory: Path) -> DataSignature:
        """("T", feature_dim) sequences with one speaker class each."""
        description = (
            f"synthetic speakers: {params.speakers} speakers x {params.sequences_per_speaker} "
            f"sequences of {params.min_length}-{params.max_length} frames, {params.feature_dim} "
            f"features, {params.min_states}-{params.max_states}-state HMMs over {params.sounds} "
            f"shared sounds, spread {params.speaker_spread:g} (seed {params.generator_seed})"
        )
        return DataSignature(
            input_shape=("T", params.feature_dim),
            input_kind="sequence",
            target_kind="class",
            num_classes=params.speakers,
            example_count=params.speakers * params.sequences_per_speaker,
            description=description,
        )

    def load(self, params: SyntheticSpeakersParams, base_directory: Path, seed: int) -> DataArrays:
        """Generate the sequences; `seed` is not used (the generator has `generator_seed`)."""
        import numpy as np

        generator = np.random.default_rng(params.generator_seed)
        sounds = generator.standard_normal((params.sounds, params.feature_dim))
        rows: list[np.ndarray] = []
        targets: list[int] = []
        for speaker in range(params.speakers):
            model = _random_speaker(generator, sounds, params)
            for _ in range(params.sequences_per_speaker):
                length = int(generator.integers(params.min_length, params.max_length + 1))
                rows.append(_sample(generator, model, length))
                targets.append(speaker)
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        inputs = np.zeros((len(rows), int(lengths.max()), params.feature_dim), dtype=np.float32)
        for index, row in enumerate(rows):
            inputs[index, : len(row)] = row
        return DataArrays(inputs=inputs, targets=np.array(targets, dtype=np.int64),
                          input_lengths=lengths, class_names=speaker_names(params.speakers))


def _random_speaker(generator, sounds, params: SyntheticSpeakersParams) -> dict:
    """A speaker's HMM: initial probabilities, transitions, per-state means and deviations."""
    import numpy as np

    states = int(generator.integers(params.min_states, params.max_states + 1))
    chosen = generator.choice(params.sounds, size=states, replace=states > params.sounds)
    offsets = generator.standard_normal((states, params.feature_dim))
    means = sounds[chosen] + params.speaker_spread * offsets
    # Per-feature deviations e^u, u ~ U(-spread, spread): the spread makes speakers differ in
    # their variances as much as in their means (one knob for how distinct speakers are).
    spread = params.speaker_spread
    deviations = np.exp(generator.uniform(-spread, spread, size=(states, params.feature_dim)))
    stay = generator.uniform(0.6, 0.95, size=states)
    transitions = np.zeros((states, states))
    for state in range(states):
        if states == 1:
            transitions[state, state] = 1.0
            continue
        leave = generator.dirichlet(np.ones(states - 1)) * (1 - stay[state])
        transitions[state] = np.insert(leave, state, stay[state])
    initial = generator.dirichlet(np.ones(states))
    return {"initial": initial, "transitions": transitions, "means": means,
            "deviations": deviations}


def _sample(generator, model: dict, length: int):
    """One sequence of `length` frames from a speaker's HMM."""
    import numpy as np

    states = len(model["initial"])
    path = np.empty(length, dtype=np.int64)
    path[0] = generator.choice(states, p=model["initial"])
    for step in range(1, length):
        path[step] = generator.choice(states, p=model["transitions"][path[step - 1]])
    noise = generator.standard_normal((length, model["means"].shape[1]))
    return model["means"][path] + model["deviations"][path] * noise
