"""Runs with a memory budget measure the peak of saved activations per phase (autograd's saved
tensors counted per storage, recomputation included) and report it beside the planner's
prediction, in summary.json and in the results table."""

from __future__ import annotations

import json
from pathlib import Path

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.plan.memory.network_peak import network_peak

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "memory_mlp_digits.yaml"
SHORT = ["--set", "trainer.max_epochs=1", "--set", "trainer.limit_train_batches=3"]


def test_measured_peak_equals_the_plan_on_a_chain_and_is_reported(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(SPEC), "--run-dir", str(run), *SHORT]) == 0
    row = json.loads((run / "summary.json").read_text())["phases"][0]
    compiled = compile_spec(str(SPEC)).raise_for_errors()
    chain = compiled.plan.memory.chains[0]
    # The network is one chain: the planner's per-layer estimates are exact for these layer
    # types, so the measured peak (checkpointed segments recomputed during backward included)
    # is the plan's to the byte, and about half of plain backprop's (the 50% budget).
    assert row["planned_peak_bytes"] == chain.predicted_peak_bytes
    assert row["plain_peak_bytes"] == chain.plain_peak_bytes
    assert row["activation_peak_bytes"] == row["planned_peak_bytes"]
    assert row["activation_peak_bytes"] <= 0.5 * row["plain_peak_bytes"]
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    shown = capsys.readouterr().out
    assert "measured" in shown and f"{row['activation_peak_bytes'] / 2**20:.2f}" in shown


def test_without_a_budget_nothing_is_measured(tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(SPEC), "--run-dir", str(run), *SHORT,
                 "--set", "memory=null"]) == 0
    row = json.loads((run / "summary.json").read_text())["phases"][0]
    assert "activation_peak_bytes" not in row


def test_layers_outside_the_budgeted_parts_are_added_plainly(tmp_path):
    # A concat ends chains: the layers around it are estimated plainly and added to both figures.
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.read_text().replace(
        "    - {name: out, type: linear, units: 10}",
        "    - {name: side, type: linear, units: 64, activation: relu, inputs: [narrow2]}\n"
        "    - {name: joined, type: concat, inputs: [narrow3, side]}\n"
        "    - {name: out, type: linear, units: 10}"))
    compiled = compile_spec(str(path)).raise_for_errors()
    memory = compiled.plan.memory
    peak = network_peak(memory, compiled.graph, 128, None)
    chains = sum(chain.predicted_peak_bytes for chain in memory.chains)
    assert peak.predicted_bytes > chains
    assert peak.plain_bytes - peak.predicted_bytes == sum(
        chain.plain_peak_bytes - chain.predicted_peak_bytes for chain in memory.chains)
