"""The synthetic_phones source: shapes, labels, grammar-following sentences, seeding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from nndsl.data.registry import DATA_SOURCES
from nndsl.data.synthetic_phones import corpus


def _source_and_params(**keys):
    source = DATA_SOURCES.get("synthetic_phones")
    return source, source.Params.model_validate(keys)


def test_arrays_match_the_signature_and_the_corpus():
    source, params = _source_and_params(sentences=20)
    signature, arrays = source.signature(params, Path(".")), source.load(params, Path("."), seed=0)
    assert signature.input_shape == ("T", 16) and signature.target_kind == "label_sequence"
    assert signature.num_classes == 10 and len(arrays) == 20
    sentences = corpus(params)["sentences"]
    for index, sentence in enumerate(sentences):
        assert arrays.input_lengths[index] == len(sentence["frames"])
        assert arrays.targets[index, : arrays.target_lengths[index]].tolist() == sentence["phones"]
        assert not arrays.inputs[index, arrays.input_lengths[index]:].any()
        # 6-10 frames per phone
        assert (
            6 * len(sentence["phones"]) <= len(sentence["frames"]) <= 10 * len(sentence["phones"])
        )


def test_sentences_follow_the_grammar_and_the_lexicon():
    _, params = _source_and_params(sentences=50)
    generated = corpus(params)
    lexicon, grammar = generated["lexicon"], generated["grammar"]
    assert len(set(lexicon)) == 20 and all(2 <= len(word) <= 4 for word in lexicon)
    assert all(len(successors) == 4 for successors in grammar)
    for sentence in generated["sentences"]:
        words = sentence["words"]
        assert 2 <= len(words) <= 4
        assert all(following in grammar[word] for word, following in zip(words, words[1:]))
        assert sentence["phones"] == [phone for word in words for phone in lexicon[word]]


def test_seeded():
    _, params = _source_and_params(sentences=3)
    _, other = _source_and_params(sentences=3, generator_seed=5)
    first, second = corpus(params)["sentences"], corpus(params)["sentences"]
    assert all(np.array_equal(a["frames"], b["frames"]) for a, b in zip(first, second))
    assert not np.array_equal(first[0]["frames"], corpus(other)["sentences"][0]["frames"])


def test_ranges_must_be_ordered():
    source = DATA_SOURCES.get("synthetic_phones")
    with pytest.raises(ValidationError, match="min_frames"):
        source.Params.model_validate({"min_frames": 12})
    with pytest.raises(ValidationError, match="successors"):
        source.Params.model_validate({"words": 3, "successors": 4})
