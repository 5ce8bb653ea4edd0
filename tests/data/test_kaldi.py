"""The `kaldi` source: feats.scp written by kaldiio plus a text file, read back for CTC."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest

from nndsl.data.registry import DATA_SOURCES, DataSourceError

TRANSCRIPTS = {"utt1": "ab ba", "utt2": "abba", "utt3": "c"}


def _write_data(folder: Path, monkeypatch, frames: dict[str, int] | None = None) -> dict:
    """feats.ark/feats.scp with relative paths (as Kaldi recipes write them) and a text file."""
    frames = frames or {"utt1": 9, "utt2": 6, "utt3": 2}
    generator = np.random.default_rng(0)
    matrices = {u: generator.normal(size=(n, 3)).astype(np.float32) for u, n in frames.items()}
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    with kaldiio.WriteHelper("ark,scp:feats.ark,feats.scp") as writer:
        for utterance, matrix in matrices.items():
            writer(utterance, matrix)
    (folder / "text").write_text("".join(f"{u} {t}\n" for u, t in TRANSCRIPTS.items()))
    return matrices


def _source(**keys):
    source = DATA_SOURCES.get("kaldi")
    return source, source.Params.model_validate({"feats": "data/feats.scp", "text": "data/text",
                                                 **keys})


def test_round_trip_with_a_derived_vocabulary(tmp_path: Path, monkeypatch) -> None:
    matrices = _write_data(tmp_path / "data", monkeypatch)
    source, params = _source()
    signature = source.signature(params, tmp_path)
    arrays = source.load(params, tmp_path, seed=0)
    assert signature.input_shape == ("T", 3) and signature.target_kind == "label_sequence"
    # Sorted characters a, b, c, then the space symbol, after the blank.
    assert arrays.class_names == ("<blank>", "a", "b", "c", "<space>")
    assert signature.num_classes == 5
    assert arrays.example_ids == ("utt1", "utt2", "utt3")
    assert arrays.input_lengths.tolist() == [9, 6, 2]
    np.testing.assert_allclose(arrays.inputs[1, :6], matrices["utt2"])
    assert (arrays.inputs[2, 2:] == 0).all()
    assert arrays.targets[0, : arrays.target_lengths[0]].tolist() == [1, 2, 4, 2, 1]
    assert arrays.targets[1, :4].tolist() == [1, 2, 2, 1]


def test_given_vocabulary_with_multi_character_symbols(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch)
    (tmp_path / "data" / "text").write_text("utt1\t<n>ab\nutt2 b\nutt3 a\n")  # tabs are legal
    source, params = _source(vocabulary=["a", "b", "<n>"], feature_dim=3)
    arrays = source.load(params, tmp_path, seed=0)
    assert arrays.targets[0, :3].tolist() == [3, 1, 2]


def test_missing_scp_names_the_file(tmp_path: Path) -> None:
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    assert caught.value.field == "feats" and "data/feats.scp" in caught.value.message


def test_utterance_without_transcript(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch)
    (tmp_path / "data" / "text").write_text("utt1 ab\nutt2 b\n")
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    assert "utt3" in caught.value.message and "text" in caught.value.message


def test_symbol_outside_the_vocabulary(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch)
    source, params = _source(vocabulary=["a", "b", "<space>"])
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    assert caught.value.field == "vocabulary" and "'c'" in caught.value.message
    assert "utt3" in caught.value.message


def test_too_few_frames_for_ctc(tmp_path: Path, monkeypatch) -> None:
    # "abba" needs 5 frames: four labels and a blank between the two b's.
    _write_data(tmp_path / "data", monkeypatch, frames={"utt1": 9, "utt2": 4, "utt3": 2})
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.load(params, tmp_path, seed=0)
    assert "utt2" in caught.value.message and "needs 5" in caught.value.message


def test_missing_archive(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch)
    (tmp_path / "data" / "feats.ark").unlink()
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    assert "feats.ark" in caught.value.message and "feats.scp" in caught.value.message


def test_non_finite_feature_names_utterance_frame_and_feature(tmp_path: Path, monkeypatch) -> None:
    matrices = _write_data(tmp_path / "data", monkeypatch)
    matrices["utt2"][4, 2] = np.nan
    with kaldiio.WriteHelper("ark,scp:feats.ark,feats.scp") as writer:
        for utterance, matrix in matrices.items():
            writer(utterance, matrix)
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.load(params, tmp_path, seed=0)
    message = caught.value.message
    assert "'utt2'" in message and "frame 4, feature 2" in message and "NaN" in message


def test_text_file_not_utf8_names_the_line(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch)
    (tmp_path / "data" / "text").write_bytes("utt1 ab\nutt2 caf\xe9\nutt3 c\n".encode("latin1"))
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    assert "line 2" in caught.value.message and caught.value.field == "text"
