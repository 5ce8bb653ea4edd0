"""Feature statistics fitted in one streaming pass (`nndsl.data.standardize`): equal to the
two-pass statistics for any batching, padding excluded for sequences, constant features centred,
training split only when a data module standardises its splits."""

from __future__ import annotations

import numpy as np
import pytest

from nndsl.data.registry import DataArrays
from nndsl.data.splits import split_arrays
from nndsl.data.standardize import (
    FeatureStatistics,
    RunningStatistics,
    array_batches,
    fit_statistics,
    standardize_splits,
    valid_frames,
)


def _wild(rows: int = 500, seed: int = 0) -> np.ndarray:
    """Columns on scales 1e-3 .. 1e6 with offsets far from zero (cancellation-prone)."""
    generator = np.random.default_rng(seed)
    return generator.normal(size=(rows, 4)) * [1e-3, 1.0, 1e3, 1e6] + [5.0, -2.0, 7e3, 3e8]


@pytest.mark.parametrize("batch_size", [1, 7, 64, 500, 10_000])
def test_one_pass_equals_the_two_pass_statistics_for_any_batching(batch_size):
    values = _wild()
    statistics = fit_statistics(array_batches(values, batch_size))
    assert statistics.count == 500 and statistics.shape == (4,)
    np.testing.assert_allclose(statistics.mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(statistics.std, values.std(axis=0), rtol=1e-9)
    standardized = statistics.apply(values)
    assert standardized.dtype == np.float32
    np.testing.assert_allclose(standardized.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(standardized.std(axis=0), 1, atol=1e-5)


def test_constant_features_are_centred_not_divided_by_zero():
    values = np.column_stack([np.full(10, 3.0), np.arange(10.0)])
    statistics = fit_statistics([values[:4], values[4:]])
    assert statistics.std[0] == 1.0 and statistics.mean[0] == 3.0
    assert np.isfinite(statistics.apply(values)).all()


def test_fixed_shape_inputs_have_one_statistic_per_element():
    values = np.random.default_rng(1).normal(size=(30, 1, 2, 3)) * 4 + 1
    statistics = fit_statistics(array_batches(values, 8))
    assert statistics.shape == (1, 2, 3) and len(statistics.mean) == 6
    np.testing.assert_allclose(np.reshape(statistics.mean, (1, 2, 3)), values.mean(axis=0))


def test_sequences_pool_valid_frames_and_keep_padding_zero():
    generator = np.random.default_rng(2)
    lengths = np.array([5, 2, 4])
    padded = np.zeros((3, 5, 2))
    for row, length in enumerate(lengths):
        padded[row, :length] = generator.normal(size=(length, 2)) * [10, 0.1] + [100, -1]
    frames = np.concatenate([padded[row, :length] for row, length in enumerate(lengths)])
    statistics = fit_statistics(array_batches(padded, 2, lengths))
    assert statistics.count == 11 and statistics.shape == (2,)
    np.testing.assert_allclose(statistics.mean, frames.mean(axis=0))
    np.testing.assert_allclose(statistics.std, frames.std(axis=0))
    standardized = statistics.apply(padded, lengths)
    assert (standardized[1, 2:] == 0).all()  # padding stays zero
    np.testing.assert_allclose(valid_frames(standardized, lengths).mean(axis=0), 0, atol=1e-5)


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="no rows"):
        fit_statistics([])
    running = RunningStatistics()
    running.update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="feature shape"):
        running.update(np.zeros((2, 4)))


def test_round_trip_through_plain_data():
    statistics = fit_statistics([_wild(20)])
    assert FeatureStatistics.from_dict(statistics.to_dict()) == statistics


def test_splits_are_standardised_with_the_training_split_alone():
    values = _wild(200, seed=3)
    values[:, 2] += np.arange(200) * 50.0  # a trend, so every split's mean differs
    arrays = DataArrays(inputs=values.astype(np.float32), targets=np.zeros(200, dtype=np.int64))
    splits = split_arrays(arrays, 0.2, 0.2, seed=5)
    statistics, standardized = standardize_splits(splits, batch_size=16)
    train = splits.train.inputs.astype(np.float64)
    np.testing.assert_allclose(statistics.mean, train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(statistics.std, train.std(axis=0), rtol=1e-6)
    assert not np.allclose(statistics.mean, values.mean(axis=0), rtol=1e-3)
    np.testing.assert_allclose(standardized.train.inputs.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(standardized.test.inputs, statistics.apply(splits.test.inputs))
    assert standardized.valid.targets is splits.valid.targets
