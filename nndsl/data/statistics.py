"""Data stage: counts of a training split computed in one streaming pass over an
`ExampleStore`, without reading any feature.

In: a store, the training rows and the class count. Out: a JSON-ready dict: `examples`,
`frames` (valid frames, for sequences, from the stored lengths) and `class_counts` (one count
per class, from the target column alone). The run stage stores it as `data_statistics.json` in
the run directory. Feature standardisation (`data.standardize`) fits its means and deviations in
one streaming pass too: `nndsl.data.standardize.fit_statistics` over the split's rows, which the
streaming data module feeds a chunk of examples at a time.
"""

from __future__ import annotations

from typing import Any


def class_counts(store: Any, rows: Any, num_classes: int | None) -> list[int] | None:
    """Examples per class among `rows`, or None when targets are not one class each."""
    import numpy as np

    targets = store.class_targets()
    if targets is None:
        return None
    chosen = np.asarray(targets)[np.asarray(rows, dtype=np.int64)]
    return np.bincount(chosen, minlength=num_classes or 0).astype(int).tolist()


def streaming_statistics(store: Any, rows: Any, num_classes: int | None = None) -> dict[str, Any]:
    """The counts dict (see the module docstring)."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)
    result: dict[str, Any] = {"examples": len(rows)}
    if store.input_lengths is not None:
        result["frames"] = int(np.asarray(store.input_lengths)[rows].sum())
    counts = class_counts(store, rows, num_classes)
    if counts is not None:
        result["class_counts"] = counts
    return result
