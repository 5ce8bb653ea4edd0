"""Golden graph and plan dumps of the paper networks, plus hand-checked parameter counts.

`graph.to_dict()` and a stable subset of the plan (cuts, phases, parameter groups) are compared
with `expected/<spec>.json`; run `pytest tests/golden --update-goldens` to rewrite them after an
intended change, and review the diff. The counts below are worked out by hand from torch.nn's
parameter layouts, independently of the layer registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nndsl.api import compile_spec

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).parent / "expected"
SPECS = ["topdown_blstm_ctc", "topdown_cnn_blstm", "family_relations_tempered",
         "lstm_language_model", "quickstart"]


def _rounded(value: Any) -> Any:
    """Floats to 10 significant digits, so the dump does not hinge on the last bit."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def golden_dump(name: str) -> dict[str, Any]:
    compiled = compile_spec(ROOT / "specs" / f"{name}.yaml")
    assert compiled.ok, compiled.diagnostics
    plan = compiled.plan
    return _rounded({
        "graph": compiled.graph.to_dict(),
        "cuts": [{"name": cut.name, "extractor": list(cut.extractor),
                  "classifier": list(cut.classifier),
                  "extractor_parameters": cut.extractor_parameters,
                  "classifier_parameters": cut.classifier_parameters} for cut in plan.cuts],
        "phases": [{"name": phase.name, "kind": phase.kind, "cut": phase.cut,
                    "search": None if phase.search is None else
                    {"cuts": list(phase.search.cuts), "search": phase.search.search,
                     "monitor": phase.search.monitor, "mode": phase.search.mode},
                    "trainable": list(phase.trainable), "frozen": list(phase.frozen),
                    "reinitialised": list(phase.reinitialised),
                    "trainable_parameters": phase.trainable_parameters,
                    "frozen_parameters": phase.frozen_parameters,
                    "reinitialised_parameters": phase.reinitialised_parameters,
                    "stop": {"monitor": phase.stop.monitor, "mode": phase.stop.mode,
                             "patience": phase.stop.patience, "max_epochs": phase.stop.max_epochs}}
                   for phase in plan.phases],
        "parameter_groups": [{"name": group.name, "layers": list(group.layers), "lr": group.lr,
                              "weight_decay": group.weight_decay,
                              "rate_multiplier": group.rate_multiplier,
                              "parameters": group.parameters,
                              "parameters_of": getattr(group, "parameters_of", None)}
                             for group in plan.parameter_groups],
    })


@pytest.mark.parametrize("name", SPECS)
def test_graph_and_plan_match_golden(name, request):
    dump = golden_dump(name)
    path = EXPECTED / f"{name}.json"
    text = json.dumps(dump, indent=1, sort_keys=True) + "\n"
    if request.config.getoption("--update-goldens"):
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run pytest tests/golden --update-goldens"
    assert json.loads(path.read_text()) == json.loads(text), \
        f"{name}: the dump differs from {path.name}; if intended, rerun with --update-goldens"


# Hand arithmetic, torch.nn layouts: an LSTM direction has 4 gates, each with an input matrix,
# a recurrent matrix and two bias vectors; a linear layer has (in + 1) x out.
def lstm_direction(inputs: int, hidden: int) -> int:
    return 4 * hidden * (inputs + hidden) + 2 * 4 * hidden


def linear(inputs: int, outputs: int) -> int:
    return (inputs + 1) * outputs


def conv2d(in_channels: int, out_channels: int, kernel: int) -> int:
    return (in_channels * kernel * kernel + 1) * out_channels


def test_hand_counts_of_the_arithmetic_itself():
    assert 2 * lstm_direction(40, 320) == 926_720
    assert linear(640, 320) == 205_120


def nodes(name: str) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in golden_dump(name)["graph"]["nodes"]}


def test_topdown_blstm_ctc_counts_and_cuts():
    dump = golden_dump("topdown_blstm_ctc")
    by_name = {node["name"]: node for node in dump["graph"]["nodes"]}
    assert by_name["enc1.blstm"]["parameters"] == 926_720
    assert by_name["enc1.projection"]["parameters"] == 205_120
    assert by_name["enc2.blstm"]["parameters"] == 2 * lstm_direction(320, 320) == 1_643_520
    assert by_name["out"]["parameters"] == linear(320, 21) == 6_741
    assert by_name["enc4.projection"]["output_shape"] == ["T", 320]
    encoder = 926_720 + 205_120 + 3 * (1_643_520 + 205_120)
    assert dump["graph"]["parameters"] == encoder + 6_741 == 6_684_501
    assert [cut["name"] for cut in dump["cuts"]] == ["C1", "C2", "C3", "C4"]
    top = dump["cuts"][-1]
    assert top["classifier"] == ["out"] and top["classifier_parameters"] == 6_741
    assert dump["cuts"][0]["extractor"] == ["enc1.blstm", "enc1.projection", "enc1.dropout"]
    joint, top_down = dump["phases"]
    assert joint["trainable_parameters"] == 6_684_501 and joint["frozen"] == []
    assert top_down["search"]["cuts"] == ["C4", "C3", "C2", "C1"]
    assert top_down["frozen"] == ["out"] and top_down["trainable_parameters"] == encoder
    assert top_down["reinitialised"] == top_down["trainable"]


def test_topdown_cnn_blstm_counts():
    by_name = nodes("topdown_cnn_blstm")
    assert by_name["vgg1.conv_a"]["parameters"] == conv2d(1, 64, 3) == 640
    assert by_name["vgg1.conv_b"]["parameters"] == conv2d(64, 64, 3) == 36_928
    assert by_name["vgg2.conv_b"]["parameters"] == conv2d(128, 128, 3) == 147_584
    # two 2x2 poolings: 40 features -> 10, time T -> T/4; 128 channels x 10 features per frame
    assert by_name["frames"]["output_shape"] == ["T/4", 1280]
    assert by_name["enc1.blstm"]["parameters"] == 2 * lstm_direction(1280, 320) == 4_101_120
    assert by_name["enc6.blstm"]["parameters"] == 1_643_520


def test_family_relations_counts():
    dump = golden_dump("family_relations_tempered")
    by_name = {node["name"]: node for node in dump["graph"]["nodes"]}
    expected = {"person_code": linear(24, 6), "relation_code": linear(12, 6),
                "central": linear(12, 12), "out_code": linear(12, 6), "out": linear(6, 24)}
    assert {name: by_name[name]["parameters"] for name in expected} == expected
    assert dump["graph"]["parameters"] == sum(expected.values()) == 630
    assert sum(group["parameters"] for group in dump["parameter_groups"]) == 630
    assert by_name["codes"]["output_shape"] == [12]


def test_lstm_language_model_counts():
    dump = golden_dump("lstm_language_model")
    by_name = {node["name"]: node for node in dump["graph"]["nodes"]}
    assert by_name["embed"]["parameters"] == 50 * 256
    assert by_name["lstm1.lstm"]["parameters"] == lstm_direction(256, 256) == 526_336
    assert by_name["out"]["output_shape"] == [64, 50]
    assert dump["graph"]["parameters"] == 12_800 + 2 * 526_336 + linear(256, 50) == 1_078_322


def test_quickstart_counts_and_phase():
    dump = golden_dump("quickstart")
    assert dump["graph"]["parameters"] == 2 * linear(64, 64) + linear(64, 10) == 8_970
    assert [unit["name"] for unit in dump["graph"]["units"]] == ["hidden1", "hidden2", "out"]
    assert [cut["extractor_parameters"] for cut in dump["cuts"]] == [4_160, 8_320]
    assert [group["parameters"] for group in dump["parameter_groups"]] == [8_970]
