"""User files: `npz` and `csv` round trips and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nndsl.data.registry import DATA_SOURCES, DataSourceError


def _source(name: str, directory: Path, **keys):
    source = DATA_SOURCES.get(name)
    params = source.Params.model_validate(keys)
    return source, params


def _signature_and_arrays(name: str, directory: Path, **keys):
    source, params = _source(name, directory, **keys)
    return source.signature(params, directory), source.load(params, directory, seed=0)


def _error(name: str, directory: Path, stage: str = "signature", **keys) -> DataSourceError:
    source, params = _source(name, directory, **keys)
    with pytest.raises(DataSourceError) as caught:
        if stage == "signature":
            source.signature(params, directory)
        else:
            source.load(params, directory, seed=0)
    return caught.value


# npz ------------------------------------------------------------------------------------------


def test_npz_class_round_trip(tmp_path: Path) -> None:
    inputs = np.random.default_rng(0).normal(size=(12, 5))
    targets = np.arange(12) % 3
    np.savez(tmp_path / "data.npz", inputs=inputs, targets=targets)
    signature, arrays = _signature_and_arrays("npz", tmp_path, path="data.npz")
    assert signature.input_shape == (5,) and signature.target_kind == "class"
    assert signature.num_classes == 3 and signature.example_count == 12
    np.testing.assert_allclose(arrays.inputs, inputs.astype(np.float32))
    np.testing.assert_array_equal(arrays.targets, targets)
    assert arrays.targets.dtype == np.int64


def test_npz_label_sequences_with_lengths_and_custom_keys(tmp_path: Path) -> None:
    features = np.zeros((3, 7, 4), dtype=np.float32)
    labels = np.array([[1, 2, 0], [3, 0, 0], [1, 1, 2]])
    np.savez_compressed(
        tmp_path / "ctc.npz", x=features, y=labels,
        input_lengths=np.array([7, 3, 5]), target_lengths=np.array([2, 1, 3]),
    )
    signature, arrays = _signature_and_arrays(
        "npz", tmp_path, path="ctc.npz", inputs_key="x", targets_key="y", num_classes=5
    )
    assert signature.input_shape == ("T", 4) and signature.input_kind == "sequence"
    assert signature.target_kind == "label_sequence" and signature.num_classes == 5
    assert arrays.input_lengths.tolist() == [7, 3, 5]
    assert arrays.target_lengths.tolist() == [2, 1, 3]


def test_npz_regression_and_multilabel_are_detected(tmp_path: Path) -> None:
    np.savez(tmp_path / "r.npz", inputs=np.ones((4, 2)), targets=np.ones((4, 3)))
    np.savez(tmp_path / "m.npz", inputs=np.ones((4, 2)), targets=np.eye(4, 6, dtype=bool))
    regression, _ = _signature_and_arrays("npz", tmp_path, path="r.npz")
    multilabel, arrays = _signature_and_arrays("npz", tmp_path, path="m.npz")
    assert regression.target_kind == "regression" and regression.target_shape == (3,)
    assert multilabel.target_kind == "multilabel" and multilabel.num_classes == 6
    assert arrays.targets.dtype == np.float32


def test_npz_missing_file_names_the_path(tmp_path: Path) -> None:
    error = _error("npz", tmp_path, path="absent.npz")
    assert error.field == "path" and "absent.npz" in error.message
    assert "does not exist" in error.message


def test_npz_that_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "text.npz").write_text("hello")
    error = _error("npz", tmp_path, path="text.npz")
    assert error.field == "path" and "not a NumPy .npz archive" in error.message


def test_npz_missing_key_suggests_the_closest(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.ones((2, 2)), target=np.zeros(2, dtype=int))
    error = _error("npz", tmp_path, path="d.npz")
    assert error.field == "targets_key" and "d.npz" in error.message
    assert "did you mean 'target'" in error.hint


def test_npz_inconsistent_row_counts(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.ones((5, 2)), targets=np.zeros(4, dtype=int))
    error = _error("npz", tmp_path, path="d.npz")
    assert "5 rows" in error.message and "4" in error.message and "d.npz" in error.message


def test_npz_label_out_of_range(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.ones((3, 2)), targets=np.array([0, 1, 7]))
    error = _error("npz", tmp_path, stage="load", path="d.npz", num_classes=3)
    assert error.field == "num_classes" and "label 7" in error.message


def test_npz_ctc_labels_must_avoid_the_blank(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.ones((2, 4, 1)), targets=np.array([[1, 0], [0, 2]]),
             target_lengths=np.array([1, 2]))
    error = _error("npz", tmp_path, stage="load", path="d.npz")
    assert "blank" in error.message and "label 0" in error.message


def test_npz_lengths_longer_than_the_padding(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.ones((2, 4, 1)), targets=np.array([1, 2]),
             input_lengths=np.array([4, 9]))
    error = _error("npz", tmp_path, stage="load", path="d.npz")
    assert error.field == "input_lengths_key" and "padded" in error.message


def test_npz_non_numeric_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.array([["a", "b"]]), targets=np.array([1]))
    error = _error("npz", tmp_path, path="d.npz")
    assert error.field == "inputs_key" and "numbers" in error.message


def test_npz_nan_inputs(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.array([[np.nan, 1.0]]), targets=np.array([0]))
    error = _error("npz", tmp_path, stage="load", path="d.npz")
    assert "NaN" in error.message and "d.npz" in error.message


# csv ------------------------------------------------------------------------------------------


def test_csv_round_trip_with_integer_labels(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,target\n1,2,0\n3.5,4,2\n\n")
    signature, arrays = _signature_and_arrays("csv", tmp_path, path="t.csv")
    assert signature.input_shape == (2,) and signature.num_classes == 3
    assert signature.example_count == 2
    np.testing.assert_allclose(arrays.inputs, [[1, 2], [3.5, 4]])
    assert arrays.targets.tolist() == [0, 2] and arrays.feature_names == ("a", "b")


def test_csv_named_classes_features_list_and_regression(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("x,y,species,size\n1,2,setosa,0.5\n3,4,virginica,1.5\n")
    signature, arrays = _signature_and_arrays(
        "csv", tmp_path, path="t.csv", target="species", features=["y", "x"]
    )
    assert arrays.class_names == ("setosa", "virginica") and signature.num_classes == 2
    np.testing.assert_allclose(arrays.inputs, [[2, 1], [4, 3]])
    signature, arrays = _signature_and_arrays(
        "csv", tmp_path, path="t.csv", target="size", features=["x"], task="regression"
    )
    assert signature.target_kind == "regression" and signature.num_classes is None
    np.testing.assert_allclose(arrays.targets, [0.5, 1.5])


def test_csv_missing_target_column(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,targets\n1,0\n")
    error = _error("csv", tmp_path, path="t.csv")
    assert error.field == "target" and "t.csv" in error.message
    assert "did you mean 'targets'" in error.hint


def test_csv_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,target\n1,2,0\n3,oops,1\n")
    error = _error("csv", tmp_path, path="t.csv")
    assert "t.csv, line 3, column 'b'" in error.message and "'oops'" in error.message


def test_csv_ragged_row_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,target\n1,0\n1,2,3\n")
    assert "line 3" in _error("csv", tmp_path, path="t.csv").message
    assert _error("csv", tmp_path, path="none.csv").field == "path"


def test_csv_label_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,target\n1,0\n2,4\n")
    error = _error("csv", tmp_path, path="t.csv", num_classes=3)
    assert error.field == "num_classes" and "label 4" in error.message


def test_csv_edits_are_seen_despite_the_parse_cache(tmp_path: Path) -> None:
    file = tmp_path / "t.csv"
    file.write_text("a,target\n1,0\n")
    first, _ = _signature_and_arrays("csv", tmp_path, path="t.csv")
    file.write_text("a,target\n1,0\n2,1\n3,1\n")
    second, _ = _signature_and_arrays("csv", tmp_path, path="t.csv")
    assert (first.example_count, second.example_count) == (1, 3)


# damaged files and non-finite values ------------------------------------------------------------


def test_npz_damaged_member_is_a_data_error_at_load(tmp_path: Path) -> None:
    # Large enough that reading the header does not reach the member's end (and its CRC check).
    np.savez(tmp_path / "d.npz", inputs=np.ones((20_000, 4)), targets=np.arange(20_000) % 3)
    data = bytearray((tmp_path / "d.npz").read_bytes())
    position = data.index(b"\x00\x00\x00\x00\x00\x00\xf0\x3f")  # the first 1.0 of `inputs`
    data[position + 7] = 0x40  # same size, different bytes: the member's CRC no longer matches
    (tmp_path / "d.npz").write_bytes(bytes(data))
    error = _error("npz", tmp_path, stage="load", path="d.npz", num_classes=3)
    assert error.field == "path" and "'inputs' cannot be read" in error.message
    assert "CRC" in error.message and "truncated" in error.hint


def test_npz_without_rows_is_refused_by_the_signature(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.zeros((0, 4)), targets=np.zeros((0,), np.int64))
    error = _error("npz", tmp_path, path="d.npz")
    assert error.field == "inputs_key" and "no rows" in error.message


def test_npz_nan_names_row_and_column(tmp_path: Path) -> None:
    inputs = np.ones((4, 3))
    inputs[2, 1] = np.inf
    np.savez(tmp_path / "d.npz", inputs=inputs, targets=np.arange(4) % 2)
    error = _error("npz", tmp_path, stage="load", path="d.npz")
    assert "row 2, column 1" in error.message and "inf" in error.message


def test_csv_not_utf8_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes("a,target\n1,0\n2,caf\xe9\n".encode("latin1"))
    error = _error("csv", tmp_path, path="d.csv")
    assert "line 3" in error.message and "UTF-8" in error.message and error.field == "path"


def test_csv_field_over_the_csv_module_limit(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,target\n" + "1" * 140_000 + ",0\n2,1\n")
    error = _error("csv", tmp_path, path="d.csv")
    assert "line 2" in error.message and "quoting" in error.hint


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_csv_non_finite_feature_names_line_and_column(tmp_path: Path, value: str) -> None:
    (tmp_path / "d.csv").write_text(f"a,b,target\n1,2,0\n3,{value},1\n")
    error = _error("csv", tmp_path, path="d.csv")  # found by the signature, i.e. at validate
    assert "line 3, column 'b'" in error.message and "finite" in error.message


def test_csv_non_finite_regression_target(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,target\n1,0.5\n3,nan\n")
    error = _error("csv", tmp_path, path="d.csv", task="regression")
    assert error.field == "target" and "finite" in error.message


def test_csv_with_a_nul_byte(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"a,target\n1,0\n2\x00,1\n")
    error = _error("csv", tmp_path, path="d.csv")
    assert "line" in error.message and error.field == "path"


def test_npz_truncated_member_is_found_by_the_signature_without_reading_it(tmp_path: Path) -> None:
    import zipfile

    np.savez(tmp_path / "whole.npz", inputs=np.ones((20, 4)), targets=np.arange(20) % 3)
    with zipfile.ZipFile(tmp_path / "whole.npz") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as archive:
        archive.writestr("inputs.npy", members["inputs.npy"][:200])
        archive.writestr("targets.npy", members["targets.npy"])
    error = _error("npz", tmp_path, path="d.npz", num_classes=3)  # validate: no array is read
    assert "'inputs' is truncated" in error.message and error.field == "path"
    # Whole archives pass, compressed ones included (sizes are of the uncompressed members).
    np.savez_compressed(tmp_path / "c.npz", inputs=np.ones((20, 4), np.float32),
                        targets=np.arange(20) % 3)
    _signature_and_arrays("npz", tmp_path, path="c.npz")
