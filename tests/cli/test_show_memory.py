"""`nndsl show` prints a memory budget's checkpoint segments next to plain backprop."""

from __future__ import annotations

import json
from pathlib import Path

from nndsl.cli import main

SPEC = Path(__file__).resolve().parents[2] / "specs" / "memory_mlp_digits.yaml"


def test_show_prints_checkpoint_segments_peak_and_time(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["show", str(SPEC)]) == 0
    out = capsys.readouterr().out
    memory = out.split("memory: budget")[1]
    assert "policy optimal" in memory and "chain / segment" in memory and "recomputed MiB" in memory
    assert "│ wide1, drop1, narrow1 " in memory and "checkpoint" in memory and "plain" in memory
    assert "chain wide1 … out (9)" in memory and "peak 1.52" in memory and "plain 3.30" in memory
    assert "time ×1.35" in memory


def test_show_json_carries_the_segments(capsys):
    assert main(["show", "--format", "json", str(SPEC), "--set", "memory.policy=sqrt"]) == 0
    chain = json.loads(capsys.readouterr().out)["plan"]["memory"]["chains"][0]
    assert chain["policy"] == "sqrt"
    assert [segment["layers"] for segment in chain["segments"]] == [
        ["wide1", "drop1", "narrow1"], ["wide2", "drop2", "narrow2"], ["wide3", "narrow3", "out"]]
    assert chain["predicted_peak_bytes"] <= chain["budget_bytes"] < chain["plain_peak_bytes"]


def test_show_says_an_ensembles_budget_applies_per_member(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["show", str(SPEC), "--set", "ensemble={members: 3, method: smcl, k: 1}"]) == 0
    memory = " ".join(capsys.readouterr().out.split("memory: budget")[1].split())
    assert "per member: each of the 3 members is planned to this budget" in memory
    assert main(["show", str(SPEC)]) == 0
    assert "per member" not in capsys.readouterr().out
