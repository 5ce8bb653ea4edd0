"""Relative density nets train end to end through nndsl: the shipped spec on a small synthetic
speaker set, with full-batch L-BFGS through Lightning's closure; and lbfgs on a plain network."""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.api import compile_spec
from nndsl.run import train

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["data.speakers=4", "data.sequences_per_speaker=8", "data.min_length=20", "data.max_length=30",
         "data.speaker_spread=1.0", "network.layers.0.models=4", "network.layers.2.units=4",
         "optimizer.max_iter=15"]


def test_shipped_specs_print_matched_parameter_counts():
    counts = {}
    for name in ("rdn_speakers", "rdn_alphanet", "rdn_mognet", "rdn_cdn", "rdn_cdn1"):
        graph = compile_spec(ROOT / "specs" / f"{name}.yaml").raise_for_errors().graph
        counts[name] = sum(node.parameter_count for node in graph.nodes)
    # 12 HMMs x (4 + 16 + 2*4*24) + (66 + 1) * 12, the paper's RDN with M = 12
    assert counts["rdn_speakers"] == 12 * 212 + 67 * 12 == 3348
    for name in ("rdn_alphanet", "rdn_cdn", "rdn_cdn1"):
        assert abs(counts[name] - counts["rdn_speakers"]) / counts["rdn_speakers"] < 0.05
    assert counts["rdn_mognet"] == counts["rdn_alphanet"] - 12 * 25  # no 5x5 transition matrices


@pytest.mark.slow
def test_relative_density_net_trains_with_lbfgs(tmp_path: Path):
    result = train(str(ROOT / "specs" / "rdn_speakers.yaml"), SMALL, run_dir=str(tmp_path / "run"),
                   progress_bar=False)
    assert result.summary["test"]["test/accuracy"] > 0.5  # 4 speakers: chance is 0.25


@pytest.mark.parametrize("keep_best", ["true", "false"])
def test_lbfgs_steps_a_plain_network_through_lightning(tmp_path: Path, keep_best: str):
    # Without a validation set, keep_best: false used to ask Lightning for a missing validation
    # loader after the phase; the phase now ends with no validation score.
    spec = tmp_path / "spec.yaml"
    spec.write_text("nndsl: 1\nname: t\nseed: 1\n"
                    "data: {source: digits, batch_size: 2000, valid_fraction: 0.0, test_fraction: 0.3}\n"
                    "network:\n  layers:\n    - {name: out, type: linear, units: 10}\n"
                    "loss: {type: cross_entropy}\nmetrics: [accuracy]\n"
                    "optimizer: {type: lbfgs, max_iter: 25}\n"
                    f"schedule:\n  - {{phase: joint, keep_best: {keep_best}, stop: {{monitor: train/loss}}}}\n"
                    "trainer: {max_epochs: 1}\n")
    result = train(str(spec), run_dir=str(tmp_path / "run"), progress_bar=False)
    # one full-batch step of 25 quasi-Newton iterations already fits a linear classifier
    assert result.summary["test"]["test/accuracy"] > 0.85
