"""Seeded train / validation / test splits."""

from __future__ import annotations

import numpy as np
import pytest

from nndsl.data.registry import DataArrays, DataSourceError
from nndsl.data.splits import split_arrays, split_indices


def test_splits_are_disjoint_complete_and_sized_by_fraction() -> None:
    indices = split_indices(100, valid_fraction=0.1, test_fraction=0.2, seed=5)
    assert (len(indices.train), len(indices.valid), len(indices.test)) == (70, 10, 20)
    every = np.concatenate([indices.train, indices.valid, indices.test])
    assert sorted(every.tolist()) == list(range(100))


def test_same_seed_same_split_other_seed_other_split() -> None:
    first = split_indices(50, 0.2, 0.2, seed=1)
    again = split_indices(50, 0.2, 0.2, seed=1)
    other = split_indices(50, 0.2, 0.2, seed=2)
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.test, other.test)


def test_zero_fractions_give_empty_splits() -> None:
    indices = split_indices(10, 0.0, 0.0, seed=0)
    assert len(indices.train) == 10 and len(indices.valid) == 0 and len(indices.test) == 0


def test_a_requested_split_that_would_be_empty_is_an_error() -> None:
    with pytest.raises(DataSourceError) as caught:
        split_indices(10, valid_fraction=0.01, test_fraction=0.0, seed=0)
    assert caught.value.field == "valid_fraction"
    assert "empty" in caught.value.message


def test_no_training_examples_left_is_an_error() -> None:
    with pytest.raises(DataSourceError) as caught:
        split_indices(10, valid_fraction=0.5, test_fraction=0.5, seed=0)
    assert "no training examples" in caught.value.message


def test_a_fixed_test_set_is_kept_and_refuses_a_test_fraction() -> None:
    arrays = DataArrays(
        inputs=np.arange(20, dtype=np.float32)[:, None],
        targets=np.arange(20),
        test_indices=np.array([17, 18, 19]),
    )
    splits = split_arrays(arrays, valid_fraction=0.1, test_fraction=0.0, seed=0)
    assert splits.test.targets.tolist() == [17, 18, 19]
    assert len(splits.valid) == 2 and len(splits.train) == 15
    assert not set(splits.valid.targets) & {17, 18, 19}
    with pytest.raises(DataSourceError) as caught:
        split_arrays(arrays, valid_fraction=0.1, test_fraction=0.1, seed=0)
    assert caught.value.field == "test_fraction"


def test_split_arrays_keeps_rows_together() -> None:
    inputs = np.arange(30, dtype=np.float32).reshape(10, 3)
    arrays = DataArrays(
        inputs=inputs,
        targets=np.arange(10),
        input_lengths=np.arange(1, 11),
        example_ids=tuple(f"u{index}" for index in range(10)),
    )
    splits = split_arrays(arrays, valid_fraction=0.2, test_fraction=0.0, seed=3)
    assert splits.test is None
    for part in (splits.train, splits.valid):
        rows = part.targets
        np.testing.assert_array_equal(part.inputs, inputs[rows])
        np.testing.assert_array_equal(part.input_lengths, rows + 1)
        assert part.example_ids == tuple(f"u{row}" for row in rows)
