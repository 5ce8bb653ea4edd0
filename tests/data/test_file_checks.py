"""What a user breaks in lazily read data files: a truncated `.npy` file or Kaldi ark, a Parquet
file without a column the others have, a file rewritten while training reads it. Each is one
clear error with exit status 2, no traceback, and no run directory where the problem is found
before training (`nndsl.data.file_checks`, E516; E493 for the column)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pyarrow import parquet

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.data.registry import DATA_SOURCES, DataSourceError

SPEC = """
nndsl: 1
name: broken
seed: 1
data: {{{data}, batch_size: 8, valid_fraction: 0.2}}
network:
  layers:
    - {{name: out, type: linear, units: 3}}{pool}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
schedule:
  - {{phase: joint, stop: {{max_epochs: 2}}}}
trainer: {{max_epochs: 2}}
"""
NPY = "source: npy_dir, path: set"
KALDI = "source: kaldi, feats: set/feats.scp, utt2label: set/utt2spk, lazy: true"


def write_npy(folder: Path, rows: int = 64) -> None:
    folder.mkdir()
    generator = np.random.default_rng(0)
    np.save(folder / "inputs.npy", generator.normal(size=(rows, 4)).astype(np.float32))
    np.save(folder / "targets.npy", np.arange(rows) % 3)


def write_kaldi(folder: Path, utterances: int = 300) -> None:
    import kaldiio

    folder.mkdir()
    generator = np.random.default_rng(0)
    labels, counts = [], []
    with kaldiio.WriteHelper(f"ark,scp:{folder}/feats.ark,{folder}/feats.scp") as writer:
        for index in range(utterances):
            matrix = generator.normal(size=(int(generator.integers(3, 9)), 4))
            writer(f"u{index:04d}", matrix.astype(np.float32))
            labels.append(f"u{index:04d} c{index % 3}\n")
            counts.append(f"u{index:04d} {len(matrix)}\n")
    (folder / "utt2spk").write_text("".join(labels))
    (folder / "utt2num_frames").write_text("".join(counts))


def cut(file: Path, size: int) -> None:
    """Drop the last `size` bytes of `file` (an interrupted write or copy)."""
    data = file.read_bytes()
    file.write_bytes(data[:-size])


def train(tmp_path: Path, data: str, capsys) -> tuple[int, str]:
    pool = "\n    - {name: pool, type: global_pool}" if "kaldi" in data else ""
    (tmp_path / "spec.yaml").write_text(SPEC.format(data=data, pool=pool))
    status = main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_a_truncated_npy_file_is_found_by_validation(tmp_path, capsys):
    write_npy(tmp_path / "set")
    cut(tmp_path / "set" / "inputs.npy", 7)
    (tmp_path / "spec.yaml").write_text(SPEC.format(data=NPY, pool=""))
    diagnostics = compile_spec(tmp_path / "spec.yaml").diagnostics
    assert [item.code for item in diagnostics] == ["E516"]
    assert "inputs.npy is truncated" in diagnostics[0].message
    assert "shape (64, 4)" in diagnostics[0].message
    status, output = train(tmp_path, NPY, capsys)
    assert status == 2 and "E516" in output and "Traceback" not in output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("size", "counts", "utterance"), [
    (10, True, "u0299"),  # inside the last utterance
    (2000, True, "u0299"),  # several utterances
    (2000, False, "u02"),  # frame counts from the headers: the first header past the end
])
def test_a_truncated_ark_is_found_before_the_run_directory_is_made(tmp_path, capsys, size,
                                                                   counts, utterance):
    write_kaldi(tmp_path / "set")
    if not counts:
        (tmp_path / "set" / "utt2num_frames").unlink()
    cut(tmp_path / "set" / "feats.ark", size)
    status, output = train(tmp_path, KALDI, capsys)
    assert status == 2 and "Traceback" not in output
    assert "E516" in output and f"feats.ark is truncated: utterance '{utterance}" in output
    assert not (tmp_path / "run").exists()
    # `nndsl validate` finds it too: each ark's last utterance is read.
    assert [item.code for item in compile_spec(tmp_path / "spec.yaml").diagnostics] == ["E516"]


def test_a_parquet_file_without_a_column_the_others_have_is_e493(tmp_path, capsys):
    (tmp_path / "set").mkdir()
    for part, name in enumerate(("label", "lbl")):
        parquet.write_table(pa.table({"features": [[1.0, 2.0]] * 20, name: [0, 1] * 10}),
                            tmp_path / "set" / f"part{part}.parquet")
    data = "source: arrow, path: set, inputs_column: features, targets_column: label"
    (tmp_path / "spec.yaml").write_text(SPEC.format(data=data, pool=""))
    diagnostics = compile_spec(tmp_path / "spec.yaml").diagnostics
    assert [item.code for item in diagnostics] == ["E493"]
    assert "part1.parquet has no column 'label'" in diagnostics[0].message
    status, output = train(tmp_path, data, capsys)
    assert status == 2 and "E493" in output and not (tmp_path / "run").exists()


def _rewrite(file: Path, grow: bool) -> None:
    """Change `file` as a user might while a run reads it: append to it, or rewrite it in place
    with the same size (its modification time moved on, as the next write would)."""
    if grow:
        with open(file, "ab") as stream:
            stream.write(b"\0" * 16)
    else:
        file.write_bytes(file.read_bytes())
        status = file.stat()
        os.utime(file, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("grow", [True, False])
def test_every_lazy_store_notices_a_file_changed_after_it_was_opened(tmp_path, grow):
    write_npy(tmp_path / "npy")
    write_kaldi(tmp_path / "kaldi", utterances=12)
    parquet.write_table(pa.table({"features": [[1.0, 2.0]] * 20, "label": [0, 1] * 10}),
                        tmp_path / "set.parquet")
    cases = [("npy_dir", {"path": "npy"}, tmp_path / "npy" / "targets.npy"),
             ("kaldi", {"feats": "kaldi/feats.scp", "utt2label": "kaldi/utt2spk", "lazy": True},
              tmp_path / "kaldi" / "feats.ark"),
             ("arrow", {"path": "set.parquet", "inputs_column": "features",
                        "targets_column": "label"}, tmp_path / "set.parquet")]
    for name, keys, changed in cases:
        registered = DATA_SOURCES.get(name)
        store = registered.open(registered.Params.model_validate(keys), tmp_path, 0)
        store.examples([0, 1])  # read as training reads
        _rewrite(changed, grow)
        with pytest.raises(DataSourceError) as caught:
            store.examples([2])
        assert caught.value.code == "E516", name
        assert str(changed) in caught.value.message
        assert ("changed size" if grow else "was rewritten") in caught.value.message


def test_a_file_rewritten_during_training_stops_it_with_exit_2(tmp_path, capsys, monkeypatch):
    from nndsl.data.lazy_npy import NpyStore

    write_npy(tmp_path / "set")
    reads = []
    examples = NpyStore.examples

    def reading(self, indices):
        reads.append(len(indices))
        if len(reads) == 3:  # a few batches into the first epoch
            _rewrite(tmp_path / "set" / "inputs.npy", grow=False)
        return examples(self, indices)

    monkeypatch.setattr(NpyStore, "examples", reading)
    status, output = train(tmp_path, NPY, capsys)
    assert status == 2 and "Traceback" not in output
    assert "E516" in output and "inputs.npy was rewritten" in output
    assert not (tmp_path / "run" / "final_weights.pt").exists()
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize(("rows", "features", "label", "problem"), [
    (64, 5, 2, "inputs of shape (4,) when validated, (5,) now"),
    (80, 4, 2, "64 examples when validated, 80 now"),
    (64, 4, 7, "3 classes when validated, label 7 now"),
])
def test_files_replaced_between_validation_and_training_are_e516(tmp_path, rows, features, label,
                                                                 problem):
    from nndsl.diagnostics import SpecError
    from nndsl.run.train import load_data

    write_npy(tmp_path / "set")
    (tmp_path / "spec.yaml").write_text(SPEC.format(data=NPY, pool=""))
    compiled = compile_spec(tmp_path / "spec.yaml").raise_for_errors()
    generator = np.random.default_rng(1)  # replaced after validation, before training opens it
    np.save(tmp_path / "set" / "inputs.npy",
            generator.normal(size=(rows, features)).astype(np.float32))
    np.save(tmp_path / "set" / "targets.npy", np.minimum(np.arange(rows) % 3 * 10, label))
    with pytest.raises(SpecError) as caught:
        load_data(compiled)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == "E516" and problem in diagnostic.message


def test_nan_in_a_memory_mapped_array_is_e350_not_a_diverged_training(tmp_path, capsys,
                                                                       monkeypatch):
    from nndsl.data.lazy_npy import NpyStore

    write_npy(tmp_path / "set")
    inputs = np.load(tmp_path / "set" / "inputs.npy")
    inputs[:, 1] = np.nan  # every example: the sample read when the store opens finds it
    np.save(tmp_path / "set" / "inputs.npy", inputs)
    status, output = train(tmp_path, NPY, capsys)
    assert status == 2 and "E350" in output and "holds nan at position (1,)" in output
    assert "Traceback" not in output and not (tmp_path / "run").exists()
    # One example outside any sample: the batch that reads it says so.
    inputs[:, 1] = 0
    inputs[37, 3] = np.inf
    np.save(tmp_path / "set" / "inputs.npy", inputs)
    monkeypatch.setattr(NpyStore, "check_sample", lambda self, seed: None)
    registered = DATA_SOURCES.get("npy_dir")
    store = registered.open(registered.Params.model_validate({"path": "set"}), tmp_path, 0)
    assert len(store.examples([0, 36, 38])) == 3
    with pytest.raises(DataSourceError) as caught:
        store.examples([5, 37])
    assert caught.value.code == "E350" and "example 37 holds inf" in caught.value.message


def test_truncated_parquet_and_arrow_files_are_named(tmp_path):
    import datasets

    (tmp_path / "set").mkdir()
    for part in range(2):
        parquet.write_table(pa.table({"features": [[1.0, 2.0]] * 20, "label": [0, 1] * 10}),
                            tmp_path / "set" / f"part{part}.parquet")
    cut(tmp_path / "set" / "part1.parquet", 30)  # its footer, where the schema is
    datasets.Dataset.from_dict({"features": [[1.0, 2.0]] * 500, "label": [0, 1] * 250}) \
        .save_to_disk(str(tmp_path / "saved"))
    cut(next((tmp_path / "saved").glob("*.arrow")), 3000)
    for path, named in (("set", "part1.parquet: cannot read"),
                        ("saved", "saved: cannot read the saved data set")):
        data = f"source: arrow, path: {path}, inputs_column: features, targets_column: label"
        (tmp_path / "spec.yaml").write_text(SPEC.format(data=data, pool=""))
        [diagnostic] = compile_spec(tmp_path / "spec.yaml").diagnostics
        assert diagnostic.code == "E498" and named in diagnostic.message
