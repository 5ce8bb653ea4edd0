"""The `kaldi` source with `utt2label`: one class per utterance (speaker identification)."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
from pydantic import ValidationError

from nndsl.data.registry import DATA_SOURCES, DataSourceError

SPEAKERS = {"utt1": "bob", "utt2": "ann", "utt3": "bob"}


def _write_data(folder: Path, monkeypatch, speakers: dict[str, str] = SPEAKERS) -> dict:
    """feats.ark/feats.scp (relative paths, as Kaldi recipes write them) and a utt2spk file."""
    generator = np.random.default_rng(0)
    matrices = {u: generator.normal(size=(n, 3)).astype(np.float32)
                for u, n in {"utt1": 5, "utt2": 7, "utt3": 2}.items()}
    folder.mkdir(exist_ok=True)
    monkeypatch.chdir(folder)
    with kaldiio.WriteHelper("ark,scp:feats.ark,feats.scp") as writer:
        for utterance, matrix in matrices.items():
            writer(utterance, matrix)
    (folder / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in speakers.items()))
    return matrices


def _source(**keys):
    source = DATA_SOURCES.get("kaldi")
    return source, source.Params.model_validate({"feats": "data/feats.scp",
                                                 "utt2label": "data/utt2spk", **keys})


def test_one_class_per_utterance_with_sorted_names(tmp_path: Path, monkeypatch) -> None:
    matrices = _write_data(tmp_path / "data", monkeypatch)
    source, params = _source()
    signature = source.signature(params, tmp_path)
    arrays = source.load(params, tmp_path, seed=0)
    assert signature.target_kind == "class" and signature.num_classes == 2
    assert signature.input_shape == ("T", 3) and signature.input_kind == "sequence"
    assert arrays.class_names == ("ann", "bob")
    assert arrays.targets.tolist() == [1, 0, 1] and arrays.target_lengths is None
    assert arrays.input_lengths.tolist() == [5, 7, 2]
    np.testing.assert_allclose(arrays.inputs[2, :2], matrices["utt3"])


def test_given_classes_fix_the_numbers(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch)
    source, params = _source(classes=["bob", "carl", "ann"])
    arrays = source.load(params, tmp_path, seed=0)
    assert arrays.class_names == ("bob", "carl", "ann") and arrays.targets.tolist() == [0, 2, 0]
    assert source.signature(params, tmp_path).num_classes == 3


def test_unlabelled_utterance(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch, {"utt1": "bob", "utt3": "bob"})
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    assert caught.value.field == "utt2label" and "'utt2'" in caught.value.message


def test_unknown_utterance_names_file_and_line(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch, {**SPEAKERS, "utt9": "ann"})
    source, params = _source()
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    message = caught.value.message
    assert caught.value.field == "utt2label" and "line 4" in message and "'utt9'" in message


def test_class_outside_the_given_classes(tmp_path: Path, monkeypatch) -> None:
    _write_data(tmp_path / "data", monkeypatch)
    source, params = _source(classes=["bob"])
    with pytest.raises(DataSourceError) as caught:
        source.signature(params, tmp_path)
    assert caught.value.field == "classes" and "'ann'" in caught.value.message


@pytest.mark.parametrize("keys", [{}, {"text": "data/text", "utt2label": "data/utt2spk"},
                                  {"utt2label": "u", "vocabulary": ["a"]},
                                  {"text": "t", "classes": ["a"]}])
def test_one_kind_of_target_and_no_ignored_option(keys) -> None:
    with pytest.raises(ValidationError):
        DATA_SOURCES.get("kaldi").Params.model_validate({"feats": "f", **keys})


def test_a_speaker_identification_spec_compiles_on_kaldi_features(tmp_path: Path,
                                                                    monkeypatch) -> None:
    from nndsl.api import compile_spec

    _write_data(tmp_path / "data", monkeypatch)
    spec = tmp_path / "speakers.yaml"
    spec.write_text(
        "nndsl: 1\nname: t\n"
        "data: {source: kaldi, feats: data/feats.scp, utt2label: data/utt2spk}\n"
        "network:\n  layers:\n"
        "    - {name: hmms, type: hmm_likelihood, models: 3, states: 2}\n"
        "    - {name: compare, type: pairwise_relative}\n"
        "    - {name: out, type: linear, units: 2}\n"
        "loss: {type: cross_entropy}\nmetrics: [accuracy]\noptimizer: {type: adam, lr: 0.01}\n")
    compiled = compile_spec(spec)
    compiled.raise_for_errors()
    assert compiled.signature.target_kind == "class" and compiled.signature.num_classes == 2
