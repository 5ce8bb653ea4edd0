"""Every script in benchmarks/ still runs: each has a `--smoke` mode (tiny sizes, seconds) that
is run here in its own process, and must exit 0 and print its ratio line (the side-by-side
comparison the benchmark exists for). The scripts are found by glob, so a new benchmark without
`--smoke` fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))
RATIO = re.compile(r"\bratio", re.IGNORECASE)


def test_benchmarks_are_found():
    assert len(BENCHMARKS) >= 10 and any(path.name == "validate_scaling.py" for path in BENCHMARKS)


@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.stem for path in BENCHMARKS])
def test_every_benchmark_offers_smoke(script):
    """Cheap, in the default run: the option exists (its run is the slow test below)."""
    assert '"--smoke"' in script.read_text(), f"{script.name} has no --smoke mode"


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.stem for path in BENCHMARKS])
def test_benchmark_smoke_run(script, tmp_path):
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, str(script), "--smoke"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, (
        f"{script.name} --smoke failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    assert any(RATIO.search(line) for line in result.stdout.splitlines()), \
        f"{script.name} --smoke printed no ratio line:\n{result.stdout[-2000:]}"
