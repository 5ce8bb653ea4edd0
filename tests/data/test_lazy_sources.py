"""The memory-mapped `npy_dir` and the Arrow/Parquet `arrow` sources: batches read lazily equal
the in-memory path's, and metadata problems are found with their codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from pyarrow import parquet

from nndsl.backend.datamodule import ArrayDataModule
from nndsl.backend.streaming import StreamingDataModule
from nndsl.data.registry import DATA_SOURCES, DataSourceError


def sequences(count: int = 30, seed: int = 0) -> tuple[list, np.ndarray, list]:
    generator = np.random.default_rng(seed)
    frames = [generator.normal(size=(int(n), 3)).astype(np.float32)
              for n in generator.integers(2, 12, size=count)]
    classes = generator.integers(0, 4, size=count)
    labels = [generator.integers(1, 5, size=int(generator.integers(1, 3))) for _ in range(count)]
    return frames, classes, labels


def write_npy(folder: Path, sequence_targets: bool = False) -> None:
    frames, classes, labels = sequences()
    folder.mkdir(parents=True)
    padded = np.zeros((len(frames), 11, 3), dtype=np.float32)
    for row, matrix in enumerate(frames):
        padded[row, : len(matrix)] = matrix
    np.save(folder / "inputs.npy", padded)
    np.save(folder / "input_lengths.npy", np.array([len(m) for m in frames]))
    if sequence_targets:
        targets = np.zeros((len(labels), 2), dtype=np.int64)
        for row, sequence in enumerate(labels):
            targets[row, : len(sequence)] = sequence
        np.save(folder / "targets.npy", targets)
        np.save(folder / "target_lengths.npy", np.array([len(s) for s in labels]))
    else:
        np.save(folder / "targets.npy", classes)


def write_parquet(file: Path, sequence_targets: bool = False) -> None:
    frames, classes, labels = sequences()
    table = pa.table({
        "features": pa.array([m.tolist() for m in frames], pa.list_(pa.list_(pa.float32()))),
        "label": (pa.array([s.tolist() for s in labels], pa.list_(pa.int64()))
                  if sequence_targets else pa.array(classes.tolist(), pa.int64()))})
    file.parent.mkdir(parents=True, exist_ok=True)
    parquet.write_table(table, file)


def source(name: str, **keys):
    registered = DATA_SOURCES.get(name)
    return registered, registered.Params.model_validate(keys)


def assert_same_batches(memory, streaming) -> None:
    for name in ("train_dataloader", "val_dataloader"):
        first, second = list(getattr(memory, name)()), list(getattr(streaming, name)())
        assert len(first) == len(second)
        for left, right in zip(first, second):
            assert left.keys() == right.keys()
            for key in left:
                assert left[key].dtype == right[key].dtype
                torch.testing.assert_close(left[key], right[key], rtol=0, atol=0)


@pytest.mark.parametrize("sequence_targets", [False, True])
def test_npy_directory_reads_the_in_memory_batches(tmp_path: Path, sequence_targets) -> None:
    write_npy(tmp_path / "set", sequence_targets)
    npy, params = source("npy_dir", path="set")
    signature = npy.signature(params, tmp_path)
    assert signature.input_shape == ("T", 3) and signature.longest_example <= 11
    assert signature.target_kind == ("label_sequence" if sequence_targets else "class")
    store = npy.open(params, tmp_path, 0)
    assert isinstance(store._maps()["inputs_file"], np.memmap)
    memory = ArrayDataModule(npy.load(params, tmp_path, 0), 4, 0.2, 0.0, seed=1)
    assert_same_batches(memory, StreamingDataModule(store, 4, 0.2, 0.0, seed=1))


@pytest.mark.parametrize("sequence_targets", [False, True])
def test_parquet_reads_the_in_memory_batches(tmp_path: Path, sequence_targets) -> None:
    write_parquet(tmp_path / "set" / "part.parquet", sequence_targets)
    arrow, params = source("arrow", path="set", inputs_column="features",
                           targets_column="label")
    signature = arrow.signature(params, tmp_path)
    assert signature.input_shape == ("T", 3)
    assert signature.target_kind == ("label_sequence" if sequence_targets else "class")
    store = arrow.open(params, tmp_path, 0)
    frames, _, _ = sequences()
    assert store.input_lengths.tolist() == [len(m) for m in frames]
    np.testing.assert_array_equal(store.example(5)["inputs"], frames[5])
    memory = ArrayDataModule(arrow.load(params, tmp_path, 0), 4, 0.2, 0.0, seed=1)
    assert_same_batches(memory, StreamingDataModule(store, 4, 0.2, 0.0, seed=1))


def test_saved_dataset_is_read_in_place(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"inputs": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                                "targets": [0, 1, 1]}).save_to_disk(str(tmp_path / "saved"))
    arrow, params = source("arrow", path="saved")
    signature = arrow.signature(params, tmp_path)
    assert signature.input_shape == (2,) and signature.num_classes == 2
    store = arrow.open(params, tmp_path, 0)
    assert [example["targets"].item() for example in store.examples([2, 0])] == [1, 0]
    np.testing.assert_array_equal(store.example(1)["inputs"], [3.0, 4.0])
    # Bagging over a lazy store: every member draws its own bootstrap sample.
    module = StreamingDataModule(store, 2, 0.0, 0.0, seed=0)
    module.use_bootstrap_samples(members=2, seed=0)
    batch = next(iter(module.train_dataloader()))
    assert batch["inputs"].shape == (2, 2, 2) and module.bootstrap_indices.shape == (2, 3)


@pytest.mark.parametrize(("change", "code"), [
    ({"targets_column": "labels"}, "E493"),
    ({"inputs_column": "label"}, "E494"),
    ({"num_classes": 2}, "E495"),
    ({"path": "nowhere"}, "E498"),
])
def test_arrow_metadata_errors(tmp_path: Path, change, code) -> None:
    write_parquet(tmp_path / "set" / "part.parquet")
    arrow, params = source("arrow", **{"path": "set", "inputs_column": "features",
                                       "targets_column": "label", **change})
    with pytest.raises(DataSourceError) as caught:
        arrow.signature(params, tmp_path)
    assert caught.value.code == code


def test_npy_metadata_errors(tmp_path: Path) -> None:
    write_npy(tmp_path / "set")
    npy, params = source("npy_dir", path="set", targets_file="labels.npy")
    with pytest.raises(DataSourceError) as caught:
        npy.signature(params, tmp_path)
    assert caught.value.code == "E499" and "targets.npy" in caught.value.hint
    np.save(tmp_path / "set" / "input_lengths.npy", np.full(30, 12))
    npy, params = source("npy_dir", path="set")
    with pytest.raises(DataSourceError) as caught:
        npy.signature(params, tmp_path)
    assert caught.value.code == "E496"
    np.save(tmp_path / "set" / "input_lengths.npy", np.full(30, 3))
    npy, params = source("npy_dir", path="set", num_classes=2)
    with pytest.raises(DataSourceError) as caught:
        npy.signature(params, tmp_path)
    assert caught.value.code == "E495"


def test_streaming_counts_and_standardisation_match_the_whole_data(tmp_path: Path) -> None:
    from nndsl.data.statistics import streaming_statistics

    write_npy(tmp_path / "set")
    npy, params = source("npy_dir", path="set")
    store = npy.open(params, tmp_path, 0)
    rows = np.array([0, 3, 4, 7, 8, 11, 12, 20, 29])
    result = streaming_statistics(store, rows, num_classes=5)
    frames, classes, _ = sequences()
    whole = np.concatenate([frames[row] for row in rows])
    assert result == {"examples": 9, "frames": len(whole),
                      "class_counts": np.bincount(classes[rows], minlength=5).tolist()}
    # Standardisation: fitted on the training split in a streaming pass, as in memory.
    memory = ArrayDataModule(npy.load(params, tmp_path, 0), 4, 0.2, 0.0, seed=1,
                             standardize=True)
    streaming = StreamingDataModule(store, 4, 0.2, 0.0, seed=1, standardize=True)
    np.testing.assert_allclose(streaming.feature_statistics.mean,
                               memory.feature_statistics.mean, rtol=1e-9)
    np.testing.assert_allclose(streaming.feature_statistics.std,
                               memory.feature_statistics.std, rtol=1e-9)
    for left, right in zip(memory.train_dataloader(), streaming.train_dataloader()):
        torch.testing.assert_close(left["inputs"], right["inputs"], rtol=1e-6, atol=1e-6)
