"""Benchmark: wall time of `nndsl validate SPEC` (a fresh process each time) beside `import torch`.

Run: `python benchmarks/validate_time.py [--runs 5] [SPEC ...]` (default: every spec in specs/)

`validate` runs the front end only (source -> plan) and must not import torch; what a user waits
for is the whole command, interpreter start-up included, so each measurement is a subprocess of
the `nndsl` console script. `python -c "import torch"` is timed in the same run, interleaved round
by round with the specs so that drift of a shared machine hits both alike; the table prints the
median of each and their ratio. Goal: <= 0.3 s per spec.

Byte code: an installed package runs from cached `.pyc` files, but a checkout under
PYTHONDONTWRITEBYTECODE=1 compiles every nndsl module at every start. The main column lets the
subprocesses cache byte code in a temporary PYTHONPYCACHEPREFIX (warmed up first, nothing written
into the tree); the `no .pyc` column times the same command with byte-code caching off.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 0.3


def timed(command: list[str], environment: dict[str, str]) -> float:
    """Seconds one run of `command` takes; a failing command is an error, not a measurement."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path, help="specs (default: specs/*.yaml)")
    parser.add_argument("--runs", type=int, default=5,
                        help="runs per command; the median is printed")
    parser.add_argument("--smoke", action="store_true",
                        help="one run of specs/quickstart.yaml: checks that the script still runs")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.runs, arguments.specs = 1, [ROOT / "specs" / "quickstart.yaml"]
    specs = [spec.resolve() for spec in arguments.specs] or sorted((ROOT / "specs").glob("*.yaml"))
    script = shutil.which("nndsl") or str(Path(sys.executable).parent / "nndsl")
    commands = {os.path.relpath(spec, ROOT): [script, "validate", str(spec)] for spec in specs}
    torch_command = [sys.executable, "-c", "import torch"]
    with tempfile.TemporaryDirectory(prefix="nndsl-pyc-") as cache:
        cached = {key: value for key, value in os.environ.items()
                  if key != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = cache
        uncached = {**cached, "PYTHONDONTWRITEBYTECODE": "1"}
        uncached.pop("PYTHONPYCACHEPREFIX")
        for command in [*commands.values(), torch_command]:
            timed(command, cached)  # fills the byte-code cache (and fails early on a bad spec)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cold: dict[str, list[float]] = {name: [] for name in commands}
        torch_times: list[float] = []
        for _ in range(arguments.runs):
            torch_times.append(timed(torch_command, cached))
            for name, command in commands.items():
                times[name].append(timed(command, cached))
                cold[name].append(timed(command, uncached))
    torch_median = statistics.median(torch_times)
    width = max(len(name) for name in commands)
    print(f"{'spec':<{width}}  {'validate':>9}  {'import torch':>12}  {'ratio':>5}  "
          f"{'goal':>4}  {'no .pyc':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "ok" if median <= GOAL_SECONDS else "over"
        print(f"{name:<{width}}  {median:>8.3f}s  {torch_median:>11.3f}s  "
              f"{median / torch_median:>5.2f}  {verdict:>4}  "
              f"{statistics.median(cold[name]):>7.3f}s")
    print(f"median of {arguments.runs} interleaved runs each; goal <= {GOAL_SECONDS} s per spec; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
