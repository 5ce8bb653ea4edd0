"""End to end: the specs of current architectures (transformer, ResNet, BLSTM vs conformer)
train through `nndsl train` — every phase one batch (`--fast-dev-run`), memory budgets, padding
masks and top-down cuts over residual blocks included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nndsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECS = ["transformer_markov", "resnet_digits", "speech_blstm", "speech_conformer"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_spec_trains_every_phase(name, tmp_path):
    run = tmp_path / "run"
    spec = ROOT / "specs" / f"{name}.yaml"
    status = main(["train", str(spec), "--run-dir", str(run), "--fast-dev-run"])
    assert status == 0
    summary = json.loads((run / "summary.json").read_text())
    phases = [phase["phase"] for phase in summary["phases"]]
    assert phases[0] == "joint"
    if name == "resnet_digits":  # the top-down search tried cuts between residual blocks
        assert "top_down" in phases
