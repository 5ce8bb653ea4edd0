"""`init_from:` decided at validation: which checkpoint tensors load into which layer, from a
state dict, a Lightning checkpoint or a run directory (final or best weights), with `select:` and
`rename:`; and what is refused (a code-naming pickle, layers of another type or size)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import torch
from spec_texts import dense_spec

from nndsl.api import compile_spec
from nndsl.diagnostics import SpecError
from nndsl.plan import LayerInit

SPEC = dense_spec("target", 1, lr=0.1, repeat=2, unit_names="enc{index}", units=8, head="head",
                  batch_size=None, held_out=None, momentum=None, metrics=False)


def _source_state(first: str = "hidden1.linear", units: int = 8) -> dict[str, torch.Tensor]:
    """A state dict as nndsl writes it for a dense(8) x 2 + linear(10) network on digits."""
    names = [first, "hidden2.linear", "out"]
    shapes = [(units, 64), (8, units), (10, 8)]
    state = {}
    for name, (rows, columns) in zip(names, shapes):
        key = name.replace(".", "__")
        state[f"layers.{key}.0.weight"] = torch.randn(rows, columns)
        state[f"layers.{key}.0.bias"] = torch.randn(rows)
    return state


def _compile(tmp_path: Path, init: str, extra: str = ""):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + extra + f"init_from: {init}\n")
    return compile_spec(spec)


def _codes(compiled) -> list[str]:
    return [item.code for item in compiled.diagnostics]


def test_state_dict_with_rename_and_select_plans_each_tensor(tmp_path):
    torch.save(_source_state(), tmp_path / "weights.pt")
    compiled = _compile(tmp_path, "{path: weights.pt, select: [extractor:C2], "
                                  "rename: {hidden1: enc1, hidden2: enc2}}")
    assert compiled.ok, compiled.diagnostics
    init = compiled.plan.init
    assert init.format == "state_dict" and Path(init.file) == (tmp_path / "weights.pt").resolve()
    assert init.layers == (
        LayerInit("enc1.linear", "hidden1.linear", ("0.bias", "0.weight"), 8 * 64 + 8),
        LayerInit("enc2.linear", "hidden2.linear", ("0.bias", "0.weight"), 8 * 8 + 8))
    assert init.parameters == 8 * 64 + 8 + 8 * 8 + 8
    # The decision is in plan.json, as the run directory records it.
    assert compiled.plan.to_dict()["init"]["layers"][0]["source"] == "hidden1.linear"


def test_lightning_checkpoint_loads_every_layer_when_names_map(tmp_path):
    state = {f"network.{key}": value for key, value in _source_state().items()}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "best.ckpt")
    compiled = _compile(tmp_path, "{path: best.ckpt, rename: {hidden1: enc1, hidden2: enc2, "
                                  "out: head}}")
    assert compiled.ok, compiled.diagnostics
    assert compiled.plan.init.format == "lightning"
    assert [layer.layer for layer in compiled.plan.init.layers] == ["enc1.linear", "enc2.linear",
                                                                    "head"]


def test_all_layers_demand_a_full_match(tmp_path):
    torch.save(_source_state(), tmp_path / "weights.pt")
    compiled = _compile(tmp_path, "weights.pt")  # no rename: nothing is called enc1 there
    assert not compiled.ok
    assert set(_codes(compiled)) == {"E465", "E467"}
    missing = next(item for item in compiled.diagnostics if item.code == "E465")
    init_line = len(SPEC.splitlines()) + 1  # `_compile` appends the section
    assert "enc1.linear" in missing.message and missing.span.line == init_line


def test_size_and_type_mismatches_are_refused(tmp_path):
    torch.save(_source_state(units=16), tmp_path / "weights.pt")
    compiled = _compile(tmp_path, "{path: weights.pt, select: [enc1], rename: {hidden1: enc1}}")
    assert _codes(compiled) == ["E466"]
    assert compiled.diagnostics[0].message.endswith("`hidden1.linear` 1,040")  # 16 x 64 + 16
    # A run directory says its layers' types: a linear layer does not load into a norm.
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    torch.save(_source_state(), run / "final_weights.pt")
    (run / "graph.json").write_text(json.dumps({"nodes": [
        {"name": "hidden1.linear", "type": "whitened_linear"}]}))
    compiled = _compile(tmp_path, "{path: run, select: [enc1], rename: {hidden1: enc1}}")
    assert _codes(compiled) == ["E466"]
    assert "whitened_linear" in compiled.diagnostics[0].message


def test_run_directory_final_or_best_weights(tmp_path):
    run = tmp_path / "runs" / "base"
    (run / "checkpoints" / "joint").mkdir(parents=True)
    (run / "checkpoints" / "rejected").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    torch.save(_source_state(), run / "final_weights.pt")
    best = {f"network.{key}": value for key, value in _source_state().items()}
    torch.save({"state_dict": best}, run / "checkpoints" / "joint" / "best.ckpt")
    torch.save({"state_dict": best}, run / "checkpoints" / "rejected" / "best.ckpt")
    (run / "progress.json").write_text(json.dumps({"runs": {
        "joint": {"row": {"run": "joint"}, "accepted": True},
        "rejected": {"row": {"run": "rejected"}, "accepted": False}}}))
    mapping = "rename: {hidden1: enc1, hidden2: enc2, out: head}"
    final = _compile(tmp_path, f"{{path: runs/base, {mapping}}}")
    assert final.ok and final.plan.init.format == "run"
    assert Path(final.plan.init.file).name == "final_weights.pt"
    chosen = _compile(tmp_path, f"{{path: runs/base, weights: best, {mapping}}}")
    assert chosen.ok, chosen.diagnostics
    # The last run kept, not the last one tried.
    assert Path(chosen.plan.init.file) == (run / "checkpoints" / "joint" / "best.ckpt").resolve()
    (run / "final_weights.pt").unlink()
    unfinished = _compile(tmp_path, f"{{path: runs/base, {mapping}}}")
    assert _codes(unfinished) == ["E335"] and "did not finish" in unfinished.diagnostics[0].message


def test_missing_source_warns_and_training_refuses(tmp_path):
    from nndsl.run.init_weights import check_init_sources

    compiled = _compile(tmp_path, "runs/not-yet")
    assert compiled.ok
    assert [(item.code, item.severity) for item in compiled.diagnostics] == [("E335", "warning")]
    assert compiled.plan.init.checked is False
    with pytest.raises(SpecError) as refused:
        check_init_sources(compiled.plan)
    assert [item.code for item in refused.value.diagnostics] == ["E335"]


def test_a_checkpoint_naming_code_is_refused_unread(tmp_path):
    state = _source_state()
    torch.save({**state, "made": datetime.date(2020, 1, 1)}, tmp_path / "weights.pt")
    compiled = _compile(tmp_path, "weights.pt")
    assert _codes(compiled) == ["E335"]
    assert "datetime.date" in compiled.diagnostics[0].message


def test_phase_level_init_is_planned_for_its_phase(tmp_path):
    torch.save(_source_state(), tmp_path / "weights.pt")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + """schedule:
  - {phase: joint, name: first}
  - {phase: train, name: second, reinit: [enc1], init_from: {path: weights.pt, select: [head],
     rename: {out: head}}}
""")
    compiled = compile_spec(spec)
    assert compiled.ok, compiled.diagnostics
    first, second = compiled.plan.phases
    assert first.init is None and compiled.plan.init is None
    assert [layer.layer for layer in second.init.layers] == ["head"]


def test_a_cut_named_in_select_must_exist(tmp_path):
    torch.save(_source_state(), tmp_path / "weights.pt")
    compiled = _compile(tmp_path, "{path: weights.pt, select: [extractor:C9]}")
    assert _codes(compiled) == ["E403"] and compiled.diagnostics[0].hint == "cuts: C1, C2"
