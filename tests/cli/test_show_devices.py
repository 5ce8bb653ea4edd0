"""`nndsl show` marks plants, and tells online training, hardware limits and adapt phases."""

from __future__ import annotations

from pathlib import Path

from nndsl.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _show(capsys, monkeypatch, name: str) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # no wrapped cells
    assert main(["show", str(SPECS / name)]) == 0
    return " ".join(capsys.readouterr().out.split())  # the free text may wrap anywhere


def test_show_marks_the_plant_and_tells_the_device(capsys, monkeypatch):
    out = _show(capsys, monkeypatch, "anc_analog_h1.yaml")
    assert "cubic_speaker (plant, fixed)" in out
    assert "training: online — one update per example, in stream order" in out
    assert "weights 8 bits over [-1, 1] (step 0.00784, stored at that resolution)" in out
    assert "fixed offsets σ = 0.02" in out and "rates from {0.001, 0.003, 0.01, 0.03, 0.1}" in out
    float_version = _show(capsys, monkeypatch, "anc_mlp_h1.yaml")
    assert "hardware" not in float_version


def test_show_tells_what_an_adapt_phase_learns_from(capsys, monkeypatch):
    out = _show(capsys, monkeypatch, "ica_attention_words.yaml")
    assert "phase adapt: adapts unmix to the test inputs (labels unread), 5 sweep(s)" in out
    assert "unmix (ica) weighs the error from above by γ = 1" in out
    assert "loss: cross_entropy + 1 × independence(unmix)" in out
    assert "independence: infomax direction [I - φ(u)uᴴ]W" in out


def test_show_gives_each_layer_term_its_weight(capsys, monkeypatch, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("""
nndsl: 1
name: vd
data: {source: digits}
network:
  layers:
    - {name: drop1, type: variational_dropout, units: 16, activation: relu}
    - {name: drop2, type: variational_dropout}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy, terms: {kl: 0.5, drop2: {kl: 2}}}
optimizer: {type: adam, lr: 0.01}
""")
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["show", str(spec)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "loss: cross_entropy + 0.5 × kl(drop1) / N + 2 × kl(drop2) / N" in out
    assert "kl: KL to the log-uniform prior" in out
