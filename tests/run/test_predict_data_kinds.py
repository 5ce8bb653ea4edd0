"""`nndsl predict` on the data kinds runs train on: a Kaldi CTC run predicts transcripts per
utterance id whose error rate on the run's own test utterances is the run's test CER; a Kaldi
run with one class per utterance (read lazily) reproduces its test accuracy; an ensemble trained
on a `.npy` folder predicts per-member outputs from that folder and from Parquet files; data of
another kind than the run's is a one-line error (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.run.train import load_data

CTC_SPEC = """
nndsl: 1
name: kaldi-ctc
seed: 4
data: {source: kaldi, feats: data/feats.scp, text: data/text, batch_size: 8,
       valid_fraction: 0.2, test_fraction: 0.25, standardize: true}
network:
  layers:
    - {name: rnn, type: lstm, hidden: 12}
    - {name: out, type: linear, units: 5}
loss: {type: ctc}
metrics: [cer]
optimizer: {type: adam, lr: 0.03}
trainer: {max_epochs: 3}
"""
CLASS_SPEC = """
nndsl: 1
name: kaldi-speakers
seed: 3
data: {source: kaldi, feats: data/feats.scp, utt2label: data/utt2spk, lazy: true,
       batch_size: 8, valid_fraction: 0.2, test_fraction: 0.25}
network:
  layers:
    - {name: rnn, type: lstm, hidden: 8, output: last}
    - {name: out, type: linear, units: 3}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: adam, lr: 0.05}
trainer: {max_epochs: 2}
"""
ENSEMBLE_SPEC = """
nndsl: 1
name: npy-ensemble
seed: 5
data: {source: npy_dir, path: table, batch_size: 16, valid_fraction: 0.2, test_fraction: 0.2}
network:
  layers:
    - {name: hidden, type: linear, units: 8, activation: tanh}
    - {name: out, type: linear, units: 3}
loss: {type: cross_entropy}
metrics: [accuracy]
ensemble: {members: 2, method: smcl, k: 1, combine: mean}
optimizer: {type: adam, lr: 0.05}
trainer: {max_epochs: 2}
"""
WORDS = ("ab", "ba", "a b", "cab", "bc")


def _write_kaldi(folder: Path, classes: bool) -> None:
    """40 utterances of 6..14 frames of 4 features; transcripts from WORDS, or 3 speakers."""
    generator = np.random.default_rng(7)
    folder.mkdir(parents=True)
    lines = []
    with kaldiio.WriteHelper(f"ark,scp:{folder}/feats.ark,{folder}/feats.scp") as writer:
        for index in range(40):
            matrix = generator.normal(index % 3, 1.0, size=(int(generator.integers(6, 15)), 4))
            writer(f"utt{index:02d}", matrix.astype(np.float32))
            label = f"s{index % 3}" if classes else WORDS[index % len(WORDS)]
            lines.append(f"utt{index:02d} {label}\n")
    (folder / ("utt2spk" if classes else "text")).write_text("".join(lines))


def _train(root: Path, spec: str) -> tuple[Path, dict]:
    (root / "spec.yaml").write_text(spec)
    run = root / "run"
    assert main(["train", str(root / "spec.yaml"), "--run-dir", str(run)]) == 0
    return run, json.loads((run / "summary.json").read_text())["test"]


def _test_ids(root: Path) -> tuple[str, ...]:
    """The utterance ids of the run's own test split, as the data module cuts it."""
    datamodule = load_data(compile_spec(str(root / "spec.yaml"), []).raise_for_errors())
    test = datamodule.splits.test
    if hasattr(test, "indices"):  # a lazily read split: rows of the scp, in its order
        return tuple(f"utt{int(row):02d}" for row in test.indices)
    return tuple(test.example_ids)


def _errors(hypothesis: str, reference: str) -> int:
    """Levenshtein distance between two strings (characters)."""
    row = list(range(len(reference) + 1))
    for index, char in enumerate(hypothesis, start=1):
        previous, row[0] = row[0], index
        for column, other in enumerate(reference, start=1):
            previous, row[column] = row[column], min(row[column] + 1, row[column - 1] + 1,
                                                     previous + (char != other))
    return row[-1]


@pytest.mark.slow
def test_kaldi_ctc_run_predicts_transcripts_per_utterance(tmp_path):
    _write_kaldi(tmp_path / "data", classes=False)
    run, test = _train(tmp_path, CTC_SPEC)
    out = tmp_path / "p.json"
    assert main(["predict", str(run), str(tmp_path / "data"), "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["ids"] == [f"utt{index:02d}" for index in range(40)]  # the scp's order
    # Transcripts over the stored label map (a, b, c, space): the CER of the run's own test
    # utterances is the test CER training measured (best path, padding and standardisation
    # handled the same way).
    predicted = dict(zip(table["ids"], table["transcripts"]))
    assert set("".join(table["transcripts"])) <= set("abc ")
    references = {f"utt{index:02d}": WORDS[index % len(WORDS)] for index in range(40)}
    ids = _test_ids(tmp_path)
    errors = sum(_errors(predicted[name], references[name]) for name in ids)
    assert errors / sum(len(references[name]) for name in ids) == pytest.approx(
        test["test/cer"], abs=1e-5)
    # The scp file itself, as CSV: the same transcripts by utterance id.
    assert main(["predict", str(run), str(tmp_path / "data/feats.scp"), "--out",
                 str(tmp_path / "p.csv")]) == 0
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "example,transcript" and rows[1].split(",")[0] == "utt00"
    assert [row.split(",", 1)[1] for row in rows[1:]] == table["transcripts"]


@pytest.mark.slow
def test_kaldi_class_run_reproduces_its_test_accuracy(tmp_path, capsys):
    _write_kaldi(tmp_path / "data", classes=True)
    run, test = _train(tmp_path, CLASS_SPEC)
    out = tmp_path / "p.json"
    assert main(["predict", str(run), str(tmp_path / "data/feats.scp"), "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    labels = dict(zip(table["ids"], table["labels"]))
    ids = _test_ids(tmp_path)
    accuracy = np.mean([labels[name] == f"s{int(name[3:]) % 3}" for name in ids])
    assert accuracy == pytest.approx(test["test/accuracy"], abs=1e-6)
    assert table["classes"] == ["s0", "s1", "s2"]
    # The same utterances as padded npz arrays with lengths, and as Parquet rows of frames:
    # the same probabilities (padding is ignored; ids are row numbers there).
    matrices = list(dict(kaldiio.load_scp(str(tmp_path / "data/feats.scp"))).values())
    lengths = np.array([len(matrix) for matrix in matrices])
    padded = np.zeros((len(matrices), 20, 4), dtype=np.float32)
    for row, matrix in enumerate(matrices):
        padded[row, : len(matrix)] = matrix
    np.savez(tmp_path / "padded.npz", inputs=padded, input_lengths=lengths)
    import pyarrow
    from pyarrow import parquet

    parquet.write_table(pyarrow.table({"inputs": [matrix.tolist() for matrix in matrices]}),
                        tmp_path / "frames.parquet")
    for data in ("padded.npz", "frames.parquet"):
        assert main(["predict", str(run), str(tmp_path / data), "--out", str(out)]) == 0
        other = json.loads(out.read_text())
        assert other["ids"] == [str(row) for row in range(40)]
        assert np.allclose(other["probabilities"], table["probabilities"], atol=1e-5)
    # Fixed-shape data for a sequence network, and frames of another size: exit 2, one line.
    np.savez(tmp_path / "flat.npz", inputs=np.zeros((3, 4), dtype=np.float32))
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/wide.ark,{tmp_path}/wide.scp") as writer:
        writer("u1", np.zeros((5, 6), dtype=np.float32))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    for data, words in ((tmp_path / "flat.npz", "takes sequences"),
                        (tmp_path / "wide.scp", "frames of shape (6,)"),
                        (tmp_path / "t.csv", "takes sequences")):
        assert main(["predict", str(run), str(data)]) == 2
        error = capsys.readouterr().err
        assert words in error and "Traceback" not in error


@pytest.mark.slow
def test_ensemble_on_npy_folder_predicts_per_member(tmp_path, capsys):
    generator = np.random.default_rng(2)
    targets = generator.integers(0, 3, size=90)
    inputs = (generator.normal(size=(90, 5)) + targets[:, None]).astype(np.float32)
    (tmp_path / "table").mkdir()
    np.save(tmp_path / "table/inputs.npy", inputs)
    np.save(tmp_path / "table/targets.npy", targets)
    run, test = _train(tmp_path, ENSEMBLE_SPEC)
    # New data: a folder of inputs alone (no targets needed), and the same rows as Parquet.
    (tmp_path / "new").mkdir()
    np.save(tmp_path / "new/inputs.npy", inputs[:7])
    assert main(["predict", str(run), str(tmp_path / "new"), "--out", str(tmp_path / "a.json")]) \
        == 0
    table = json.loads((tmp_path / "a.json").read_text())
    assert len(table["member_labels"]) == 2 and len(table["member_probabilities"][1]) == 7
    from nndsl.run.trained import open_trained_run

    with torch.no_grad():
        members = open_trained_run(run).network(torch.from_numpy(inputs[:7]))
    assert np.allclose(members.softmax(-1).numpy(), table["member_probabilities"], atol=1e-5)
    import pyarrow
    from pyarrow import parquet

    parquet.write_table(pyarrow.table({"inputs": [list(row) for row in inputs[:7]]}),
                        tmp_path / "new.parquet")
    assert main(["predict", str(run), str(tmp_path / "new.parquet"), "--out",
                 str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["labels"] == table["labels"]
    # Sequences for a fixed-shape network, Kaldi features included: exit 2, one line.
    np.save(tmp_path / "new/input_lengths.npy", np.full(7, 5))
    np.save(tmp_path / "new/inputs.npy", np.zeros((7, 5, 5), dtype=np.float32))
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/feats.scp") as writer:
        writer("u1", np.zeros((5, 5), dtype=np.float32))
    for data, words in ((tmp_path / "new", "variable-length sequences"),
                        (tmp_path / "feats.scp", "variable-length sequences"),
                        (tmp_path / "table/inputs.npy", "give the folder")):
        assert main(["predict", str(run), str(data)]) == 2
        error = capsys.readouterr().err
        assert words in error and "Traceback" not in error


NPY_CTC_SPEC = CTC_SPEC.replace(
    "data: {source: kaldi, feats: data/feats.scp, text: data/text, batch_size: 8,",
    "data: {source: npy_dir, path: arrays, num_classes: 5, batch_size: 8,").replace(
    "name: kaldi-ctc", "name: npy-ctc")


@pytest.mark.slow
def test_ctc_run_without_a_label_map_writes_label_numbers(tmp_path):
    """A CTC run on a `.npy` folder has no vocabulary: transcripts are its label numbers, and
    their error rate on the test split is the run's test CER (labels counted one by one)."""
    generator = np.random.default_rng(3)
    lengths = generator.integers(6, 15, size=40)
    inputs = np.zeros((40, 14, 4), dtype=np.float32)
    labels = np.zeros((40, 3), dtype=np.int64)
    label_lengths = generator.integers(1, 4, size=40)
    for row in range(40):
        inputs[row, : lengths[row]] = generator.normal(size=(lengths[row], 4))
        labels[row, : label_lengths[row]] = generator.integers(1, 5, size=label_lengths[row])
    (tmp_path / "arrays").mkdir()
    for name, array in (("inputs", inputs), ("input_lengths", lengths), ("targets", labels),
                        ("target_lengths", label_lengths)):
        np.save(tmp_path / "arrays" / f"{name}.npy", array)
    run, test = _train(tmp_path, NPY_CTC_SPEC)
    out = tmp_path / "p.json"
    assert main(["predict", str(run), str(tmp_path / "arrays"), "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["transcripts"] == [" ".join(names) for names in table["label_sequences"]]
    datamodule = load_data(compile_spec(str(tmp_path / "spec.yaml"), []).raise_for_errors())
    rows = datamodule.splits.test.indices if hasattr(datamodule.splits.test, "indices") else None
    assert rows is not None  # npy_dir reads lazily
    errors = sum(_errors([int(label) for label in table["label_sequences"][row]],
                         labels[row, : label_lengths[row]].tolist()) for row in rows)
    assert errors / sum(int(label_lengths[row]) for row in rows) == pytest.approx(
        test["test/cer"], abs=1e-5)
