"""Run stage: the test split's confusion matrix, written into the run directory.

In: the test module after `Trainer.test` (its `confusion_matrix` metric, when the spec lists
it) and the data's class names. Out: `confusion_matrix.json` (counts, rows = true class,
columns = predicted class, and the class names) and `confusion_matrix.png` (a heat map drawn by
torchmetrics' own plot), and the summary entry saying where they are.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from nndsl.run.rundir import is_primary_process, write_json


def write_confusion_matrix(
    module: Any, class_names: tuple[str, ...] | None, directory: Path
) -> dict[str, Any]:
    """Write the matrix files when the module computed one; returns the summary entry (or {})."""
    metrics = getattr(module, "metrics", None)
    if metrics is None or "test" not in metrics or "confusion_matrix" not in metrics["test"]:
        return {}
    metric = metrics["test"]["confusion_matrix"]
    counts = metric.compute().cpu()
    names = (
        list(class_names)
        if class_names and len(class_names) == counts.shape[0]
        else [str(index) for index in range(counts.shape[0])]
    )
    if is_primary_process():
        write_json(
            directory / "confusion_matrix.json",
            {
                "rows": "true class",
                "columns": "predicted class",
                "classes": names,
                "counts": counts.tolist(),
            },
        )
        _picture(metric, names, directory / "confusion_matrix.png")
    return {"confusion_matrix": {"json": "confusion_matrix.json", "png": "confusion_matrix.png"}}


def _picture(metric: Any, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    size = 1.5 + 0.45 * len(names)
    figure, axes = pyplot.subplots(figsize=(size, size))
    # torchmetrics draws the counts per cell; numbers are hidden past 30 classes (unreadable).
    with warnings.catch_warnings():  # matplotlib's numpy-2 note about torchmetrics' tensors
        warnings.filterwarnings("ignore", message=".*__array__ implementation.*")
        metric.plot(ax=axes, add_text=len(names) <= 30, labels=names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
