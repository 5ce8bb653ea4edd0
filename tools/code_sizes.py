"""Module and function sizes of a package, in lines: the distribution and the outliers.

Usage: `python tools/code_sizes.py [FOLDER]` (default nndsl). Prints, for modules and for
functions, the count, median, 90th percentile and maximum, how many fall in each size band, and
the ones past the project's limits (modules over 400 lines, functions over 100).
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

MODULE_BANDS = ((0, 80), (80, 250), (250, 400), (400, None))
FUNCTION_BANDS = ((0, 20), (20, 50), (50, 100), (100, None))


def summary(sizes: list[int]) -> str:
    """Count, median, 90th percentile and maximum of a list of line counts."""
    ordered = sorted(sizes)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"n={len(ordered)} median={statistics.median(ordered):.0f} p90={p90} max={ordered[-1]}"


def report(title: str, named: list[tuple[int, str]], bands: tuple, limit: int) -> None:
    sizes = [size for size, _ in named]
    print(f"{title}: {summary(sizes)}")
    for low, high in bands:
        count = sum(low <= size and (high is None or size < high) for size in sizes)
        print(f"  {low}-{'' if high is None else high} lines: {count}")
    over = [f"{name} ({size})" for size, name in sorted(named) if size > limit]
    print(f"  over {limit}: {', '.join(over) or 'none'}")


def main(folder: str = "nndsl") -> None:
    modules: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    for path in sorted(Path(folder).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        modules.append((len(text.splitlines()), str(path)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{path}:{node.name}"))
    report("modules", modules, MODULE_BANDS, 400)
    report("functions", functions, FUNCTION_BANDS, 100)


if __name__ == "__main__":
    main(*sys.argv[1:2])
