"""The `spoken_words` source: parameters, the missing synthesiser (E475), a small generation,
determinism, and the cache's atomicity. Tests that speak need espeak-ng and skip without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from nndsl.cli import main
from nndsl.data.registry import DATA_SOURCES, DataSourceError
from nndsl.data.spoken_words import SpokenWordsParams, cache_file

SOURCE = DATA_SOURCES.get("spoken_words")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


def small(tmp_path: Path, **keys) -> SpokenWordsParams:
    """A corpus of a handful of utterances cached under tmp_path."""
    values = {"utterances": 4, "test_utterances": 2, "words": ["yes", "no", "stop"],
              "voices": ["en+m1", "en+f2"], "test_voices": ["en+m7"], "max_words": 2,
              "cache_dir": str(tmp_path / "cache")}
    values.update(keys)
    return SpokenWordsParams.model_validate(values)


def test_test_voices_must_be_held_out():
    with pytest.raises(ValidationError, match="held out"):
        SpokenWordsParams.model_validate({"voices": ["en+m1"], "test_voices": ["en+m1"]})


def test_snr_without_noise_is_refused():
    with pytest.raises(ValidationError, match="condition: noisy"):
        SpokenWordsParams.model_validate({"snr_db": [10]})
    assert SpokenWordsParams.model_validate({"condition": "noisy", "snr_db": [10]}).snr_db == (10,)


def test_missing_synthesiser_is_e475_with_the_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no espeak-ng anywhere on PATH
    params = small(tmp_path)
    with pytest.raises(DataSourceError) as caught:
        SOURCE.signature(params, tmp_path)
    assert caught.value.code == "E475" and caught.value.field == "source"
    assert "apt-get install espeak-ng" in caught.value.hint
    with pytest.raises(DataSourceError):
        SOURCE.load(params, tmp_path, seed=0)
    assert not (tmp_path / "cache").exists()  # nothing half-written


def test_validate_without_synthesiser_exits_2(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "spoken.yaml"
    spec.write_text(
        "nndsl: 1\nname: t\ndata: {source: spoken_words, cache_dir: cache}\n"
        "network:\n  layers:\n    - {name: out, type: linear, units: 24}\n"
        "loss: {type: ctc}\noptimizer: {type: sgd, lr: 0.1}\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["validate", str(spec)]) == 2
    output = capsys.readouterr()
    assert "E475" in output.out + output.err and "Traceback" not in output.out + output.err
    assert not (tmp_path / "cache").exists()


def test_cache_name_follows_the_content_not_the_labels(tmp_path):
    base = small(tmp_path)
    assert cache_file(base, tmp_path) == cache_file(small(tmp_path, labels="phones"), tmp_path)
    assert cache_file(base, tmp_path) != cache_file(small(tmp_path, generator_seed=1), tmp_path)


@needs_espeak
def test_small_generation_loads_log_mel_and_transcripts(tmp_path):
    params = small(tmp_path)
    assert "not generated yet" in SOURCE.describe(params, tmp_path)
    arrays = SOURCE.load(params, tmp_path, seed=0)
    signature = SOURCE.signature(params, tmp_path)
    assert arrays.inputs.shape[0] == 6 and arrays.inputs.shape[2] == 40
    assert signature.num_classes == len(arrays.class_names)
    assert list(arrays.test_indices) == [4, 5]
    assert all("en+m7" in name for name in arrays.example_ids[4:])
    # Every transcript spells words of the vocabulary, and about 100 frames per second of audio.
    for row, length in zip(arrays.targets, arrays.target_lengths):
        text = "".join(arrays.class_names[label] for label in row[:length])
        assert set(text.replace("<space>", " ").split()) <= {"yes", "no", "stop"}
    assert arrays.input_lengths.min() > 10
    assert "h of audio" in SOURCE.describe(params, tmp_path)
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [
        cache_file(params, tmp_path).name]


@needs_espeak
def test_same_seed_same_features_other_seed_other_features(tmp_path):
    noisy = {"condition": "noisy", "snr_db": [5], "utterances": 3, "test_utterances": 0}
    first = SOURCE.load(small(tmp_path / "a", **noisy), tmp_path, seed=0)
    second = SOURCE.load(small(tmp_path / "b", **noisy), tmp_path, seed=0)
    np.testing.assert_array_equal(first.inputs, second.inputs)
    np.testing.assert_array_equal(first.targets, second.targets)
    other = SOURCE.load(small(tmp_path / "c", generator_seed=1, **noisy), tmp_path, seed=0)
    assert first.inputs.shape != other.inputs.shape or not np.array_equal(
        first.inputs, other.inputs)


@needs_espeak
def test_phone_labels(tmp_path):
    arrays = SOURCE.load(small(tmp_path, labels="phones", test_utterances=0), tmp_path, seed=0)
    assert "s" in arrays.class_names and "<space>" in arrays.class_names
    assert all(name.isprintable() and "'" not in name and " " not in name
               for name in arrays.class_names)
    assert arrays.targets.max() < len(arrays.class_names)


@needs_espeak
def test_interrupted_write_leaves_no_cache(tmp_path, monkeypatch):
    params = small(tmp_path, utterances=2, test_utterances=0)

    def broken_savez(stream, **arrays):
        stream.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        SOURCE.load(params, tmp_path, seed=0)
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.undo()
    # A stray partial file from a killed process is never read: the real file is generated.
    (tmp_path / "cache" / ".partial-x.npz").write_bytes(b"junk")
    assert len(SOURCE.load(params, tmp_path, seed=0)) == 2
    assert cache_file(params, tmp_path).is_file()


def test_damaged_cache_is_a_located_error(tmp_path):
    params = small(tmp_path)
    target = cache_file(params, tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"PK\x03\x04 not a whole archive")
    with pytest.raises(DataSourceError) as caught:
        SOURCE.load(params, tmp_path, seed=0)
    assert caught.value.field == "cache_dir" and "delete" in caught.value.hint
    assert "damaged" in SOURCE.describe(params, tmp_path) or shutil.which("espeak-ng") is None


@needs_espeak
@pytest.mark.parametrize("voice", ["en+nosuch", "xx+m1"])
def test_unknown_voice_is_refused_at_validation(tmp_path, voice):
    # espeak-ng itself would fall back to its default voice without a word.
    with pytest.raises(DataSourceError) as caught:
        SOURCE.signature(small(tmp_path, test_voices=[voice]), tmp_path)
    assert caught.value.field == "test_voices" and voice in caught.value.message
