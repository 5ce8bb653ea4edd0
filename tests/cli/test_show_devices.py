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
    assert "unmix (ica) adds the infomax term [I - φ(u)uᴴ]W" in out and "γ = 1" in out
