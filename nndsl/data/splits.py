"""Data stage: seeded train / validation / test splits of a loaded data set.

In: `DataArrays` (or just an example count), the spec's `valid_fraction` and `test_fraction`, and
a seed. Out: three disjoint index sets (or three `DataArrays`), the same for the same seed on any
machine with the same numpy version (they come from numpy's seeded PCG64 generator).

Fractions are of all examples; counts are rounded to the nearest whole example. A split asked for
(fraction above 0) that would be empty, or a training set left empty, is a user error and raises
`DataSourceError` naming the fraction. A source that fixes its own test set
(`DataArrays.test_indices`) keeps it; the validation set is then drawn from the remaining
examples, and `test_fraction` must be 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nndsl.data.registry import DataArrays, DataSourceError


@dataclass(frozen=True)
class SplitIndices:
    """Row indices of each split, each sorted ascending.

    Attributes:
        train: rows used for training.
        valid: rows used for validation (early stopping, cut search); may be empty.
        test: rows reported at the end; may be empty.
    """

    train: Any
    valid: Any
    test: Any


@dataclass(frozen=True)
class DataSplits:
    """A data set cut into its splits; `valid` and `test` are None when not asked for."""

    train: DataArrays
    valid: DataArrays | None
    test: DataArrays | None


def _count(example_count: int, fraction: float, field: str) -> int:
    if not 0.0 <= fraction < 1.0:
        raise DataSourceError(
            f"{field} is {fraction}; it must lie in [0, 1)", field, "use e.g. 0.1 for 10%"
        )
    count = round(example_count * fraction)
    if fraction > 0 and count == 0:
        if example_count == 0:  # sources report an empty file themselves; this guards the hint
            raise DataSourceError("the data set has no examples", field, "add examples")
        raise DataSourceError(
            f"{field} {fraction} of {example_count} examples leaves that split empty",
            field,
            f"use at least {1 / example_count:.3g}, or 0 for no such split",
        )
    return count


def split_indices(
    example_count: int,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    fixed_test: Any = None,
) -> SplitIndices:
    """Shuffle the rows with `seed` and cut them into training, validation and test sets.

    Args:
        example_count: rows in the data set.
        valid_fraction: share of all rows for validation.
        test_fraction: share of all rows for testing; must be 0 with `fixed_test`.
        seed: seed of the shuffle; equal seeds give equal splits.
        fixed_test: rows a source fixes as its test set, or None.

    Raises:
        DataSourceError: a requested split would be empty, the training set would be empty, a
            fraction lies outside [0, 1), or `test_fraction` conflicts with a fixed test set.
    """
    import numpy as np

    remaining = np.arange(example_count)
    test = np.zeros(0, dtype=np.int64)
    if fixed_test is not None:
        if test_fraction > 0:
            raise DataSourceError(
                "this data source fixes its own test set, so test_fraction must be 0",
                "test_fraction",
                "remove test_fraction (or set the source's own test size, e.g. test_count)",
            )
        test = np.sort(np.asarray(fixed_test, dtype=np.int64))
        remaining = np.setdiff1d(remaining, test)
    else:
        test_count = _count(example_count, test_fraction, "test_fraction")
        remaining = np.random.default_rng([seed, 0]).permutation(example_count)
        test, remaining = np.sort(remaining[:test_count]), remaining[test_count:]

    valid_count = _count(example_count, valid_fraction, "valid_fraction")
    # A separate stream for the validation draw, so a fixed test set does not shift it.
    shuffled = np.random.default_rng([seed, 1]).permutation(remaining)
    valid, train = np.sort(shuffled[:valid_count]), np.sort(shuffled[valid_count:])
    if len(train) == 0:
        raise DataSourceError(
            f"valid_fraction {valid_fraction} and test_fraction {test_fraction} leave no "
            f"training examples out of {example_count}",
            "valid_fraction",
            "lower the fractions so they sum to well under 1",
        )
    return SplitIndices(train=train, valid=valid, test=test)


def split_arrays(
    arrays: DataArrays, valid_fraction: float, test_fraction: float, seed: int
) -> DataSplits:
    """`split_indices` applied to `arrays`, honouring a test set the source fixed.

    Raises:
        DataSourceError: as `split_indices`.
    """
    indices = split_indices(
        len(arrays), valid_fraction, test_fraction, seed, fixed_test=arrays.test_indices
    )
    return DataSplits(
        train=arrays.subset(indices.train),
        valid=arrays.subset(indices.valid) if len(indices.valid) else None,
        test=arrays.subset(indices.test) if len(indices.test) else None,
    )
