"""Data stage: feature standardisation — statistics fitted in one streaming pass over batches.

In: batches of feature rows (numpy arrays `[rows, *feature_shape]`), one at a time, e.g. the
training split cut into batches, or the batches a streaming source yields for data larger than
memory. Out: `FeatureStatistics` (per feature: mean and standard deviation), which standardise
inputs as `(x - mean) / std`, are saved in the run directory as JSON and read back by
`nndsl predict`.

The pass keeps only each feature's count, mean and sum of squared deviations (Chan, Golub and
LeVeque's pairwise update, in float64), so memory does not grow with the data and the result
equals the two-pass statistics up to rounding, whatever the batch sizes. The deviation is the
population one (divided by the count, as scikit-learn's StandardScaler); a feature that never
varies gets std 1, so it is centred rather than divided by zero.

What a "feature" is: a table's column; each element of a fixed-shape input (an image's pixels);
for variable-length sequences `[examples, T, *frame_shape]` each element of a frame, pooled over
every valid frame (`valid_frames` drops the padding), as Kaldi's global mean and variance
normalisation does.

Typical use::

    statistics = fit_statistics(training_batches)          # one pass, any iterable of arrays
    standardized = statistics.apply(inputs)                 # float32, same shape
    statistics, splits = standardize_splits(splits, batch_size)   # fitted on splits.train
    statistics = fit_statistics(store_batches(store, train_rows, 256))   # streamed data
    FeatureStatistics.from_dict(statistics.to_dict())       # as saved in the run directory

numpy is imported inside the functions: this module is importable by the front end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nndsl.data.registry import DataArrays
from nndsl.data.splits import DataSplits
from nndsl.records import Record, replace

STATISTICS_FILE = "feature_statistics.json"
"""The file name under which a run directory keeps its statistics."""


class FeatureStatistics(Record):
    """Per-feature mean and standard deviation, flattened in C order.

    Attributes:
        shape: the shape of one feature row (a table's `(columns,)`, an image's `(1, 8, 8)`, a
            sequence frame's `(40,)`).
        count: rows (examples or frames) the statistics were fitted on.
        mean: each feature's mean.
        std: each feature's population standard deviation; 1 where the feature is constant.
    """

    shape: tuple[int, ...]
    count: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, values: Any, lengths: Any = None) -> Any:
        """`(values - mean) / std` as float32; `values` is `[examples, *shape]`, or padded
        sequences `[examples, T, *shape]` with `lengths`, whose padding stays zero."""
        import numpy as np

        mean = np.asarray(self.mean, dtype=np.float64).reshape(self.shape)
        std = np.asarray(self.std, dtype=np.float64).reshape(self.shape)
        standardized = ((np.asarray(values, dtype=np.float64) - mean) / std).astype(np.float32)
        if lengths is not None:
            standardized *= _frame_mask(standardized, lengths)
        return standardized

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "count": self.count, "mean": list(self.mean),
                "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureStatistics:
        return cls(tuple(int(size) for size in data["shape"]), int(data["count"]),
                   tuple(float(value) for value in data["mean"]),
                   tuple(float(value) for value in data["std"]))


BatchSummary = tuple[tuple[int, ...], int, Any, Any]
"""One batch as `RunningStatistics` needs it: (feature shape, rows, mean, sum of squared
deviations from that mean); mean and sum are None for an empty batch."""


def summarize(rows: Any) -> BatchSummary:
    """A batch `[rows, *shape]` reduced to its `BatchSummary` (float64)."""
    import numpy as np

    batch = np.asarray(rows, dtype=np.float64)
    shape = tuple(batch.shape[1:])
    if len(batch) == 0:
        return shape, 0, None, None
    batch_mean = batch.mean(axis=0)
    return shape, len(batch), batch_mean, ((batch - batch_mean) ** 2).sum(axis=0)


class RunningStatistics:
    """Each feature's count, mean and sum of squared deviations, updated batch by batch."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None
        self.count = 0
        self._mean: Any = None
        self._squares: Any = None  # sum of squared deviations from the running mean

    def update(self, rows: Any) -> None:
        """Add a batch `[rows, *shape]`; every batch must have the same feature shape.

        Raises:
            ValueError: the batch's feature shape differs from the earlier batches'.
        """
        self.merge(summarize(rows))

    def merge(self, summary: BatchSummary) -> None:
        """Add a batch by its `summarize` result: the same arithmetic as `update`, so batches
        summarised in other processes and merged in their order give the same bits.

        Raises:
            ValueError: the batch's feature shape differs from the earlier batches'.
        """
        import numpy as np

        shape, added, batch_mean, batch_squares = summary
        if self.shape is None:
            self.shape = shape
            self._mean = np.zeros(self.shape)
            self._squares = np.zeros(self.shape)
        if shape != self.shape:
            raise ValueError(f"batch of feature shape {shape}, earlier {self.shape}")
        if added == 0:
            return
        total = self.count + added
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * (added / total)
        self._squares = self._squares + batch_squares + delta**2 * (self.count * added / total)
        self.count = total

    def result(self) -> FeatureStatistics:
        """The statistics so far.

        Raises:
            ValueError: no row was seen.
        """
        import numpy as np

        if self.shape is None or self.count == 0:
            raise ValueError("no rows to fit feature statistics on")
        std = np.sqrt(self._squares / self.count)
        # A constant feature (up to rounding of its values) is centred, not divided by ~0.
        std = np.where(std > 1e-12 * np.maximum(np.abs(self._mean), 1.0), std, 1.0)
        return FeatureStatistics(self.shape, self.count,
                                 tuple(float(value) for value in self._mean.ravel()),
                                 tuple(float(value) for value in std.ravel()))


def fit_statistics(batches: Iterable[Any]) -> FeatureStatistics:
    """Statistics of every row of every batch, in one pass (see the module docstring).

    Raises:
        ValueError: the batches hold no rows, or their feature shapes differ.
    """
    running = RunningStatistics()
    for batch in batches:
        running.update(batch)
    return running.result()


def valid_frames(inputs: Any, lengths: Any) -> Any:
    """The frames of padded sequences `[examples, T, *frame]` within their `lengths`, as rows
    `[frames, *frame]` (what sequence statistics are fitted on)."""
    import numpy as np

    values = np.asarray(inputs)
    mask = np.arange(values.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return values[mask]


def array_batches(inputs: Any, batch_size: int, lengths: Any = None) -> Iterable[Any]:
    """An in-memory array as the batches a loader would give: rows (or valid frames) of
    `batch_size` examples at a time."""
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        yield batch if lengths is None else valid_frames(batch, lengths[start : start + batch_size])


def store_batches(store: Any, rows: Any, batch_size: int) -> Iterable[Any]:
    """The examples at `rows` of an `ExampleStore` (`nndsl.data.lazy_store`) as feature batches,
    read `batch_size` examples at a time (`store_rows`). Memory holds one batch, whatever the
    data."""
    for start in range(0, len(rows), batch_size):
        yield store_rows(store, rows[start : start + batch_size])


def store_rows(store: Any, rows: Any) -> Any:
    """The feature rows of the examples at `rows`, read in one store call: a sequence gives its
    frames (the store cuts them to their length), a fixed-size example one row."""
    import numpy as np

    examples = store.examples(rows)
    return np.concatenate([np.asarray(example["inputs"]) if "input_lengths" in example
                           else np.asarray(example["inputs"])[None] for example in examples])


def standardize_splits(splits: DataSplits, batch_size: int) -> tuple[FeatureStatistics,
                                                                     DataSplits]:
    """Statistics fitted on the training split alone (in batches of `batch_size`), and every
    split standardised with them: validation and test examples never inform the statistics."""
    train = splits.train
    statistics = fit_statistics(array_batches(train.inputs, batch_size, train.input_lengths))

    def standardized(arrays: DataArrays | None) -> DataArrays | None:
        if arrays is None:
            return None
        return replace(arrays, inputs=statistics.apply(arrays.inputs, arrays.input_lengths))

    return statistics, DataSplits(standardized(train), standardized(splits.valid),
                                  standardized(splits.test))  # type: ignore[arg-type]


def read_statistics(path: Path) -> FeatureStatistics:
    """Statistics saved as JSON by `FeatureStatistics.to_dict` (the run directory's
    `feature_statistics.json`); floats round-trip exactly through JSON."""
    return FeatureStatistics.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _frame_mask(values: Any, lengths: Any) -> Any:
    """1 on valid frames, 0 on padding, broadcastable against `[examples, T, *frame]`."""
    import numpy as np

    mask = np.arange(values.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return mask.reshape(mask.shape + (1,) * (values.ndim - 2)).astype(values.dtype)
