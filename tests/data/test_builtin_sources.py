"""Built-in sources: digits, family relations, synthetic speech, Markov text."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from nndsl.data.registry import DATA_SOURCES

HERE = Path(".")


def _load(name: str, **keys):
    source = DATA_SOURCES.get(name)
    params = source.Params.model_validate(keys)
    return source.signature(params, HERE), source.load(params, HERE, seed=0)


def test_digits_flat_matches_its_signature() -> None:
    signature, arrays = _load("digits")
    assert signature.input_shape == (64,) and signature.num_classes == 10
    assert signature.example_count == 1797
    assert arrays.inputs.shape == (1797, 64) and arrays.inputs.dtype == np.float32
    assert arrays.targets.shape == (1797,) and set(np.unique(arrays.targets)) == set(range(10))
    assert 0.0 <= arrays.inputs.min() and arrays.inputs.max() == 1.0


def test_digits_image_layout_without_scaling() -> None:
    signature, arrays = _load("digits", layout="image", scale=False)
    assert signature.input_shape == (1, 8, 8)
    assert arrays.inputs.shape == (1797, 1, 8, 8) and arrays.inputs.max() == 16.0


def test_family_relations_marks_its_fixed_test_set() -> None:
    signature, arrays = _load("family_relations")
    assert signature.input_shape == (36,) and signature.target_kind == "multilabel"
    assert signature.num_classes == 24 and signature.fixed_test_count == 4
    assert arrays.inputs.shape == (104, 36) and arrays.targets.shape == (104, 24)
    assert list(arrays.test_indices) == [100, 101, 102, 103]
    assert (arrays.inputs.sum(axis=1) == 2).all()  # one person, one relation
    assert (arrays.targets.sum(axis=1) >= 1).all()


def test_family_relations_without_a_fixed_test_set() -> None:
    signature, arrays = _load("family_relations", test_count=0)
    assert signature.fixed_test_count is None and arrays.test_indices is None


def test_synthetic_speech_shapes_and_ctc_feasibility() -> None:
    signature, arrays = _load("synthetic_speech", examples=200, symbols=5, feature_dim=12)
    assert signature.input_shape == ("T", 12) and signature.num_classes == 6
    assert arrays.inputs.shape[0] == 200 and arrays.inputs.shape[2] == 12
    assert arrays.class_names[0] == "<blank>"
    for row in range(200):
        length = arrays.target_lengths[row]
        labels = arrays.targets[row, :length]
        assert 2 <= length <= 8
        assert labels.min() >= 1 and labels.max() <= 5  # the blank (0) is never a label
        assert (arrays.targets[row, length:] == 0).all()
        # CTC needs a frame per label and a separating blank frame between equal neighbours.
        repeats = int((labels[1:] == labels[:-1]).sum())
        assert arrays.input_lengths[row] >= length + repeats
        assert (arrays.inputs[row, arrays.input_lengths[row]:] == 0).all()
    assert arrays.input_lengths.max() == arrays.inputs.shape[1]


def test_synthetic_speech_is_deterministic_from_its_seeds() -> None:
    _, first = _load("synthetic_speech", examples=50, generator_seed=3)
    _, again = _load("synthetic_speech", examples=50, generator_seed=3)
    _, other = _load("synthetic_speech", examples=50, generator_seed=4)
    np.testing.assert_array_equal(first.inputs, again.inputs)
    np.testing.assert_array_equal(first.targets, again.targets)
    assert not np.array_equal(first.targets, other.targets)


def _distinct_frames(arrays) -> set[tuple[float, ...]]:
    return {
        tuple(frame)
        for row, length in enumerate(arrays.input_lengths)
        for frame in arrays.inputs[row, :length]
    }


def test_synthetic_speech_sets_with_one_template_seed_share_their_templates() -> None:
    # Without noise every frame is one of the 21 templates (20 symbols and silence), so two sets
    # drawn with different generator seeds but one template seed show at most 21 distinct frames.
    keys = {"examples": 40, "noise": 0.0}
    _, clean = _load("synthetic_speech", generator_seed=1, **keys)
    _, other = _load("synthetic_speech", generator_seed=2, **keys)
    _, foreign = _load("synthetic_speech", generator_seed=2, template_seed=9, **keys)
    assert len(_distinct_frames(clean) | _distinct_frames(other)) <= 21
    assert len(_distinct_frames(clean) | _distinct_frames(foreign)) > 21


def test_synthetic_speech_rejects_inverted_ranges() -> None:
    with pytest.raises(ValidationError, match="min_label_length"):
        DATA_SOURCES.get("synthetic_speech").Params(min_label_length=5, max_label_length=2)


def test_markov_text_entropy_matches_the_sampled_text() -> None:
    signature, arrays = _load("markov_text", vocabulary_size=8, examples=400, concentration=0.5)
    assert signature.input_kind == "tokens" and signature.vocabulary_size == 8
    np.testing.assert_array_equal(arrays.inputs[:, 1:], arrays.targets[:, :-1])
    # The empirical conditional entropy of next token given the previous one estimates the
    # entropy rate; with 400 × 64 transitions it should agree to a few hundredths of a nat.
    counts = np.zeros((8, 8))
    np.add.at(counts, (arrays.inputs.ravel(), arrays.targets.ravel()), 1)
    conditional = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, -counts * np.log(conditional), 0.0)
    empirical = terms.sum() / counts.sum()
    source = DATA_SOURCES.get("markov_text")
    params = source.Params(vocabulary_size=8, examples=400, concentration=0.5)
    entropy_rate = source.entropy_rate(params)
    assert entropy_rate == pytest.approx(empirical, abs=0.03)
    assert f"perplexity floor {math.exp(entropy_rate):.3f}" in source.describe(params, Path("."))


def test_markov_text_higher_order_and_determinism() -> None:
    _, first = _load("markov_text", vocabulary_size=5, order=2, examples=20)
    _, again = _load("markov_text", vocabulary_size=5, order=2, examples=20)
    np.testing.assert_array_equal(first.inputs, again.inputs)
    source = DATA_SOURCES.get("markov_text")
    assert 0 < source.entropy_rate(source.Params(vocabulary_size=5, order=2,
                                                 examples=20)) < math.log(5)
    assert first.inputs.max() < 5 and first.inputs.min() >= 0


def test_markov_text_refuses_an_oversized_table() -> None:
    with pytest.raises(ValidationError, match="table entries"):
        DATA_SOURCES.get("markov_text").Params(vocabulary_size=5000, order=2)
