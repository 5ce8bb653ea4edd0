"""Run stage: a run's report beyond the phase table: Σ|Δθ| per layer and validation curves.

In: a run directory — the summary rows (each run's `parameter_change`), `graph.json` (units and
layer order) and Lightning's CSV logs `logs/<run>/metrics.csv` (plus `metrics.<n>.csv`, which
runs resumed by earlier versions kept from before the resume). Out: a rich table of Σ|Δθ| from
the start of each run (epoch 0; run directories of earlier versions: the end of epoch 1) to its
best epoch per top-level unit and run (the right half of the top-down paper's Table 1, top unit
first), and `RUN_DIR/curves.png`:
validation loss and validation error per run across phases and attempts (its Figures 1 and 2).
Imports neither torch nor, until it draws, matplotlib (Agg backend, no display needed).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

Curve = list[tuple[int, float]]


def read_metrics(folder: Path) -> dict[int, dict[str, float]]:
    """Epoch-level metrics of one run by 0-based epoch; a run resumed by an earlier version has
    parts, merged in order (a later part overrides an earlier one's epoch)."""
    parts = sorted(folder.glob("metrics.*.csv"), key=lambda path: int(path.suffixes[0][1:]))
    epochs: dict[int, dict[str, float]] = {}
    for path in [*parts, folder / "metrics.csv"]:
        if not path.exists():
            continue
        with path.open(newline="") as stream:
            for record in csv.DictReader(stream):
                if not record.get("epoch"):
                    continue
                values = epochs.setdefault(int(float(record["epoch"])), {})
                for key, text in record.items():
                    if key not in ("epoch", "step") and text not in ("", None):
                        values[key] = float(text)
    return epochs


def error_measure(names: set[str]) -> tuple[str, str, bool] | None:
    """(metric, axis label, whether to plot 1 - value) for the validation error curve."""
    if "valid/cer" in names:
        return "valid/cer", "validation CER", False
    if "valid/accuracy" in names:
        return "valid/accuracy", "validation error (1 - accuracy)", True
    others = sorted(name for name in names if name.startswith("valid/") and name != "valid/loss")
    return (others[0], others[0], False) if others else None


def write_curves(directory: Path, rows: list[dict[str, Any]],
                 name: str | None = None) -> Path | None:
    """Draw `curves.png` (loss left, error right; one line per run, dashed when rejected, a dot
    at the best epoch). Returns its path, or None when no run logged validation metrics."""
    runs = []
    for row in rows:
        epochs = read_metrics(directory / "logs" / row["run"])
        if any("valid/loss" in values for values in epochs.values()):
            runs.append((row, epochs))
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = {key for _, epochs in runs for values in epochs.values() for key in values}
    error = error_measure(names)
    figure, axes = pyplot.subplots(1, 2 if error else 1, figsize=(13 if error else 7, 4.8),
                                   squeeze=False)
    colours = pyplot.get_cmap("tab10")
    measures = [("valid/loss", False), *([(error[0], error[2])] if error else [])]
    for index, (row, epochs) in enumerate(runs):
        label = _label(row)
        style = {"color": colours(index % 10),
                 "linestyle": "--" if row.get("accepted") is False else "-", "linewidth": 1.6}
        best = row.get("change_to_epoch")
        for axis, (metric, flip) in zip(axes[0], measures):
            curve = [(epoch + 1, 1 - values[metric] if flip else values[metric])
                     for epoch, values in sorted(epochs.items()) if metric in values]
            if not curve:
                continue
            axis.plot([x for x, _ in curve], [y for _, y in curve], label=label, **style)
            marked = [point for point in curve if point[0] == best]
            if marked:
                axis.plot(*marked[0], marker="o", color=style["color"], markersize=5)
    axes[0][0].set_ylabel("validation loss")
    if error:
        axes[0][1].set_ylabel(error[1])
    from matplotlib.ticker import MaxNLocator

    for axis in axes[0]:
        axis.set_xlabel("epoch of the run")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper right", title="run (dashed: rejected, dot: best "
                                                            "epoch)",
                       title_fontsize=8)
    figure.suptitle(f"{name or directory.name}: validation curves per phase and attempt")
    figure.tight_layout()
    path = directory / "curves.png"
    temporary = path.with_name(".curves.png.tmp")
    figure.savefig(temporary, dpi=110, format="png")
    pyplot.close(figure)
    temporary.replace(path)
    return path


def _label(row: dict[str, Any]) -> str:
    if row.get("attempt") is None and row.get("baseline") is None:
        return row["run"]
    verdict = "accepted" if row.get("accepted") else "rejected"
    cut = f" (cut {row['cut']})" if row.get("cut") and row.get("attempt") is None else ""
    return f"{row['run']}{cut} — {verdict}"


def change_units(graph: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Top-level units that hold parameters, top first, each with its layers."""
    with_parameters = {node["name"] for node in graph.get("nodes", []) if node.get("parameters")}
    units = [(unit["name"], [node for node in unit["nodes"] if node in with_parameters])
             for unit in graph.get("units", [])]
    return [(name, layers) for name, layers in reversed(units) if layers]


def change_table(summary: dict[str, Any], graph: dict[str, Any] | None) -> Table | None:
    """Σ|Δθ| per unit (sum over its layers) and run; "–" where the unit was frozen."""
    rows = [row for row in summary.get("phases", []) if row.get("parameter_change") is not None]
    if not rows:
        return None
    if graph and graph.get("units"):
        units = change_units(graph)
    else:  # no graph dump: one column per layer, in the order the rows name them
        layers = list(dict.fromkeys(layer for row in rows for layer in row["parameter_change"]))
        units = [(layer, [layer]) for layer in reversed(layers)]
    table = Table(title="Σ|Δθ| per unit, from the start of the run (epoch 0) to the "
                  "best-validation epoch", title_justify="left")
    table.add_column("run")
    table.add_column("epochs")
    for name, _ in units:
        table.add_column(Text(str(name)), justify="right")  # Text: names are literal, not markup
    for row in rows:
        changes = row["parameter_change"]
        cells = []
        for _, layers in units:
            values = [changes[layer] for layer in layers if layer in changes]
            cells.append(_number(sum(values)) if values else "–")
        # Rows written before the start was epoch 0 measured from the end of epoch 1.
        start = row.get("change_from_epoch", 1)
        span = f"{start}→{row['change_to_epoch']}" if row.get("change_to_epoch") else ""
        table.add_row(Text(str(row["run"])), span, *cells)
    return table


def _number(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"


def read_graph(directory: Path) -> dict[str, Any] | None:
    path = directory / "graph.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
