"""The front end's work grows linearly with the network: compiling (and showing) a spec of twice
the layers makes about twice the Python function calls, for every variant of
benchmarks/validate_scaling.py. Call counts are deterministic, unlike times on a shared machine:
a per-cut list of layer names or a segment search re-summing bytes doubles its share with every
doubling of the layers, and shows here as a ratio well above 2."""

from __future__ import annotations

import cProfile
import importlib.util
import io
import pstats
from pathlib import Path

import pytest
from rich.console import Console

from nndsl.api import compile_spec

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "validate_scaling.py"
_spec = importlib.util.spec_from_file_location("validate_scaling", SCRIPT)
assert _spec is not None and _spec.loader is not None
scaling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scaling)

SMALL, LARGE = 300, 600


def calls(variant: str, layers: int) -> int:
    """Function calls made by compiling the variant's spec and rendering `nndsl show`'s tables."""
    from nndsl.cli.show import render_show

    text = scaling.spec_text(variant, layers)
    profile = cProfile.Profile()
    profile.enable()
    compiled = compile_spec("spec.yaml", text=text)
    render_show(Console(file=io.StringIO(), width=120), compiled)
    profile.disable()
    assert compiled.ok, compiled.diagnostics
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("variant", scaling.VARIANTS)
def test_twice_the_layers_make_about_twice_the_calls(variant):
    calls(variant, 20)  # imports and caches filled outside the measurement
    ratio = calls(variant, LARGE) / calls(variant, SMALL)
    assert ratio <= 2.15, f"{variant}: {ratio:.2f}"
