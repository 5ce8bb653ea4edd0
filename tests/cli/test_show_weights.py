"""`nndsl show` says what `init_from` loads into which layer, from which file, and lists the
gradual-unfreezing stages with what each unfreezes, its epochs and its rate."""

from __future__ import annotations

import torch

from nndsl.cli import main

SPEC = """
nndsl: 1
name: shown
use: [std:blocks/dense]
data: {source: digits}
network:
  layers:
    - {block: dense, repeat: 2, name: "enc{index}", with: {units: 8}}
    - {name: head, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.2}
cuts: units
init_from: {path: weights.pt, select: [enc1], rename: {hidden1: enc1}}
schedule:
  - {phase: gradual_unfreeze, name: thaw, epochs: [2, 5], stages: 2, lr_multipliers: [1, 0.25]}
"""


def test_show_lists_loads_and_stages(tmp_path, capsys, monkeypatch):
    torch.save({"layers.hidden1__linear.0.weight": torch.zeros(8, 64),
                "layers.hidden1__linear.0.bias": torch.zeros(8)}, tmp_path / "weights.pt")
    (tmp_path / "spec.yaml").write_text(SPEC)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["show", str(tmp_path / "spec.yaml")]) == 0
    out = capsys.readouterr().out
    lines = [" ".join(line.replace("│", " ").split()) for line in out.splitlines()]
    # The title wraps to the table's width (the path too): read as one text.
    text = " ".join(out.split())
    assert "init_from weights.pt (state dict: " in text and "), before the first phase" in text
    assert "enc1.linear hidden1.linear 0.bias, 0.weight 520" in lines
    assert "thaw-1 1/2 head 2 0.2 1" in lines and "thaw-2 2/2 enc2 5 0.05 0.25" in lines
