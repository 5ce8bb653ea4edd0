"""Data stage: statistics of a training split computed in one streaming pass over an
`ExampleStore`, never holding more than one chunk of examples.

In: a store, the training rows, and whether feature moments are needed. Out: a JSON-ready dict:
`examples`, `frames` (valid frames, for sequences), `class_counts` (one count per class, from
the target column alone: no feature is read for it) and, when asked, `feature_mean` and
`feature_std` per input feature over every valid frame (or row), merged chunk by chunk with
Chan's parallel update of mean and squared deviations, so the result does not depend on holding
the data whole and matches numpy's over the concatenated frames to rounding.
The run stage stores the dict as `data_statistics.json` in the run directory.
"""

from __future__ import annotations

from typing import Any

CHUNK_EXAMPLES = 256


def class_counts(store: Any, rows: Any, num_classes: int | None) -> list[int] | None:
    """Examples per class among `rows`, or None when targets are not one class each."""
    import numpy as np

    targets = store.class_targets()
    if targets is None:
        return None
    chosen = np.asarray(targets)[np.asarray(rows, dtype=np.int64)]
    return np.bincount(chosen, minlength=num_classes or 0).astype(int).tolist()


def feature_moments(store: Any, rows: Any) -> tuple[Any, Any, int]:
    """(mean, standard deviation, frames) per feature over the valid frames of `rows`."""
    import numpy as np

    count, mean, squares = 0, None, None
    for start in range(0, len(rows), CHUNK_EXAMPLES):
        examples = store.examples(rows[start:start + CHUNK_EXAMPLES])
        # A sequence contributes its frames, a fixed-size example one row.
        values = np.concatenate([np.asarray(example["inputs"], dtype=np.float64).reshape(
            len(example["inputs"]) if "input_lengths" in example else 1, -1)
            for example in examples])
        chunk_count = len(values)
        chunk_mean = values.mean(axis=0)
        chunk_squares = ((values - chunk_mean) ** 2).sum(axis=0)
        if mean is None:
            count, mean, squares = chunk_count, chunk_mean, chunk_squares
            continue
        total = count + chunk_count
        delta = chunk_mean - mean
        mean = mean + delta * chunk_count / total
        squares = squares + chunk_squares + delta ** 2 * count * chunk_count / total
        count = total
    if mean is None:
        return None, None, 0
    return mean, np.sqrt(squares / max(count, 1)), count


def streaming_statistics(store: Any, rows: Any, num_classes: int | None = None,
                         moments: bool = False) -> dict[str, Any]:
    """The statistics dict (see the module docstring)."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)
    result: dict[str, Any] = {"examples": len(rows)}
    if store.input_lengths is not None:
        result["frames"] = int(np.asarray(store.input_lengths)[rows].sum())
    counts = class_counts(store, rows, num_classes)
    if counts is not None:
        result["class_counts"] = counts
    if moments:
        mean, deviation, _ = feature_moments(store, rows)
        result["feature_mean"] = None if mean is None else mean.tolist()
        result["feature_std"] = None if deviation is None else deviation.tolist()
    return result
