"""The synthetic_speakers source: shapes, lengths, padding, seeding, and that speakers differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from nndsl.data.registry import DATA_SOURCES

HERE = Path(".")


def _load(**keys):
    source = DATA_SOURCES.get("synthetic_speakers")
    params = source.Params.model_validate(keys)
    return source.signature(params, HERE), source.load(params, HERE, seed=0)


def test_defaults_follow_the_digest_plan():
    signature, arrays = _load()
    assert signature.input_shape == ("T", 24) and signature.input_kind == "sequence"
    assert signature.target_kind == "class" and signature.num_classes == 12
    assert signature.example_count == 12 * 48 == len(arrays)
    assert np.bincount(arrays.targets).tolist() == [48] * 12
    assert 50 <= arrays.input_lengths.min() and arrays.input_lengths.max() <= 150
    assert arrays.inputs.shape == (576, arrays.input_lengths.max(), 24)
    assert arrays.inputs.dtype == np.float32 and arrays.class_names[0] == "speaker01"


def test_padding_is_zero_and_frames_are_not():
    _, arrays = _load(speakers=3, sequences_per_speaker=4)
    for row, length in zip(arrays.inputs, arrays.input_lengths):
        assert not row[length:].any()
        assert (np.abs(row[:length]).sum(axis=1) > 0).all()


def test_seeded_and_the_seed_matters():
    first, second = (
        _load(speakers=3, sequences_per_speaker=2)[1],
        _load(speakers=3, sequences_per_speaker=2)[1],
    )
    other = _load(speakers=3, sequences_per_speaker=2, generator_seed=1)[1]
    assert np.array_equal(first.inputs, second.inputs)
    assert not np.array_equal(first.inputs, other.inputs)


def test_speakers_differ_more_than_their_own_sequences():
    _, arrays = _load(speakers=4, sequences_per_speaker=10, speaker_spread=1.0)
    means = np.stack(
        [row[:length].mean(axis=0) for row, length in zip(arrays.inputs, arrays.input_lengths)]
    )
    centres = np.stack([means[arrays.targets == speaker].mean(axis=0) for speaker in range(4)])
    within = np.mean([np.linalg.norm(means[arrays.targets == speaker] - centres[speaker],
                                     axis=1).mean()
                      for speaker in range(4)])
    between = np.mean(
        [np.linalg.norm(centres[a] - centres[b]) for a in range(4) for b in range(a + 1, 4)]
    )
    assert between > within


def test_ranges_must_be_ordered():
    source = DATA_SOURCES.get("synthetic_speakers")
    with pytest.raises(ValidationError, match="min_states"):
        source.Params.model_validate({"min_states": 6, "max_states": 5})
    with pytest.raises(ValidationError, match="min_length"):
        source.Params.model_validate({"min_length": 200})
