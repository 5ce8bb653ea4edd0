"""`nndsl show` tells how training runs — the trainer line, each phase's optimiser, scheduler
and tempering (marked where the phase overrides the spec), the rates of phases with their own
parameter groups, the α columns explained — and writes the network as GraphML or DOT through
networkx with shapes, parameter counts, cuts and per-phase states as attributes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import networkx
import pytest

from nndsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = """
nndsl: 1
name: rates
data: {source: digits}
network:
  layers:
    - {name: h1, type: linear, units: 16, activation: tanh}
    - {name: h2, type: linear, units: 16, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
cuts: units
trainer: {scheduler: {type: step, step_size: 5}, devices: 2, strategy: ddp, accelerator: cpu}
schedule:
  - {phase: joint}
  - {phase: train, name: slow-top, train: [out], freeze: [h1, h2],
     optimizer: {type: sgd, lr: 0.01, momentum: 0.9,
                 scheduler: {type: cosine, warmup: 3}},
     tempering: {rule: manual, multipliers: [{select: [out], lr: 0.1}]}}
  - {phase: train, name: redo, reinit: [h1], train: [h1], freeze: [h2, out]}
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "rates.yaml"
    path.write_text(SPEC)
    return path


def _shown(arguments: list[str], capsys) -> str:
    assert main(arguments) == 0
    return capsys.readouterr().out


def test_show_prints_trainer_phase_settings_and_phase_rates(spec, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich's console width: no cell wraps
    text = " ".join(_shown(["show", str(spec)], capsys).split())
    assert "devices 2, nodes 1, strategy ddp" in text and "accelerator cpu" in text
    assert "logger csv" in text
    assert "phase settings" in text
    assert "sgd lr 0.01 momentum 0.9 (phase)" in text
    assert "cosine after 3 epochs of warmup" in text and "step ×0.1 every 5" in text
    assert "(trainer)" in text and "manual (phase)" in text
    # slow-top's own groups: the phase's rate 0.01, and out at 0.1 of it (0.001 = 0.01 × spec η)
    assert "parameter groups of phase slow-top" in text
    assert "0.001" in text and "0.01" in text
    assert "parameter groups of phase redo" not in text  # the spec's rates: nothing to add


def test_the_alpha_columns_are_explained(capsys):
    tempered = _shown(["show", str(ROOT / "specs" / "family_relations_tempered.yaml")], capsys)
    assert "attenuation α: the factor on the error backpropagated into the layer" in " ".join(tempered.split())
    recurrent = ROOT / "specs" / "topdown_speech_small.yaml"
    shown = _shown(["show", str(recurrent), "--set", "memory={budget: 80%, sequence_length: 40}"],
                   capsys)
    assert "α: the size of one internal state" in " ".join(shown.split())


def test_graphml_carries_shapes_parameters_cuts_and_phase_states(spec, capsys):
    text = _shown(["show", str(spec), "--format", "graphml"], capsys)
    graph = networkx.read_graphml(io.StringIO(text))
    assert list(networkx.topological_sort(graph)) == ["input", "h1", "h2", "out"]
    assert graph.graph["parameter_count"] == 64 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    assert graph.graph["cuts"] == "C1,C2" and graph.graph["phases"] == "joint,slow-top,redo"
    h1, out = graph.nodes["h1"], graph.nodes["out"]
    assert h1["type"] == "linear" and h1["output_shape"] == "[16]" and h1["parameter_count"] == 1040
    assert h1["cut_C1"] == "extractor" and out["cut_C1"] == "classifier"
    assert h1["phase_joint"] == "trainable"
    assert h1["phase_slow_top"] == "frozen" and out["phase_slow_top"] == "trainable"
    assert h1["phase_redo"] == "reinitialised" and out["phase_redo"] == "frozen"
    assert graph.edges["h1", "h2"]["slot"] == 0


def test_graphml_marks_checkpoint_segments(capsys):
    text = _shown(["show", str(ROOT / "specs" / "memory_mlp_digits.yaml"), "--format",
                   "graphml"], capsys)
    graph = networkx.read_graphml(io.StringIO(text))
    assert graph.nodes["wide1"]["checkpoint_segment"] == 0
    assert graph.nodes["wide2"]["checkpoint_segment"] == 1
    assert graph.nodes["out"]["checkpoint_segment"] == -1


def test_dot_opens_with_networkx(spec, tmp_path, capsys):
    pytest.importorskip("pydot")
    path = tmp_path / "graph.dot"
    path.write_text(_shown(["show", str(spec), "--format", "dot"], capsys))
    graph = networkx.nx_pydot.read_dot(path)
    assert graph.nodes["out"]["phase_slow_top"] == "trainable"
    assert graph.nodes["h1"]["parameter_count"] == "1040"
    assert set(graph.edges) >= {("input", "h1"), ("h1", "h2"), ("h2", "out")}


def test_dot_without_pydot_is_a_one_line_error(spec, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "pydot" else real(name, *rest))
    assert main(["show", str(spec), "--format", "dot"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "pip install 'nndsl[graph]'" in captured.err
    assert "Traceback" not in captured.err


def test_networkx_is_imported_only_for_graph_output(spec):
    import subprocess

    probe = ("import sys\nfrom nndsl.cli import main\nassert main(sys.argv[1:]) == 0\n"
             "print('NETWORKX', 'networkx' in sys.modules, file=sys.stderr)")
    for arguments, expected in ((["show", str(spec)], False),
                                (["show", str(spec), "--format", "graphml"], True)):
        result = subprocess.run([sys.executable, "-c", probe, *arguments], capture_output=True,
                                text=True, timeout=120)
        assert f"NETWORKX {expected}" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_spec_writes_graphml_that_reads_back(path):
    from nndsl.api import compile_spec
    from nndsl.cli.show_graph import graph_text

    compiled = compile_spec(path)
    if not compiled.ok:  # data this machine lacks (the speech synthesiser): shown by validate
        pytest.skip("does not compile on its own")
    graph = networkx.read_graphml(io.StringIO(graph_text(compiled, "graphml")))
    assert graph.graph["parameter_count"] == compiled.graph.parameter_count
    assert set(graph.nodes) == {"input", *compiled.graph.layers}
