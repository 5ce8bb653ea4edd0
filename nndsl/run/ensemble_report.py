"""Run stage: how sMCL's members divide the test examples, as a table and a picture.

In: the class -> member assignment counts an ensemble run records in summary.json (each test
example counted for the member with the lowest loss on it) and the class names. Out: a rich
table of row percentages and `assignments.png`, the stochastic multiple-choice paper's Figure 4c
picture: near-pure rows mean members specialised by class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table


def _percentages(counts: list[list[int]]) -> list[list[float]]:
    return [[100.0 * value / max(1, sum(row)) for value in row] for row in counts]


def assignment_table(summary: dict[str, Any]) -> Table | None:
    """Row-normalised assignments per class, or None when the run recorded none."""
    ensemble = summary.get("ensemble") or {}
    counts = ensemble.get("assignments")
    if not counts:
        return None
    members = len(counts[0])
    table = Table(title=f"test examples won per class and member (%), {ensemble.get('method')} "
                        f"with {members} members", title_justify="left")
    table.add_column("class")
    for member in range(1, members + 1):
        table.add_column(f"member {member}", justify="right")
    for index, row in enumerate(_percentages(counts)):
        best = max(row)
        table.add_row(str(index),
                      *(f"[bold]{value:.1f}[/bold]" if value == best and value > 0
                        else f"{value:.1f}"
                                    for value in row))
    return table


def write_assignment_picture(counts: list[list[int]], path: Path, title: str) -> None:
    """A heat map of row percentages (classes down, members across)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    percentages = _percentages(counts)
    figure, axes = pyplot.subplots(figsize=(1.2 + 0.9 * len(counts[0]), 0.9 + 0.4 * len(counts)))
    image = axes.imshow(percentages, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for row, values in enumerate(percentages):
        for column, value in enumerate(values):
            axes.text(column, row, f"{value:.0f}", ha="center", va="center",
                      color="white" if value > 60 else "black", fontsize=8)
    axes.set_xticks(range(len(counts[0])),
                    [f"member {index + 1}" for index in range(len(counts[0]))])
    axes.set_yticks(range(len(counts)), [str(index) for index in range(len(counts))])
    axes.set_ylabel("class")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, label="% of the class's test examples")
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    pyplot.close(figure)
    temporary.replace(path)
