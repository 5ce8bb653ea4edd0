"""The run stage carries out an `init_from` plan on a real network: the planned tensors arrive in
the planned layers (renamed ones included), every other value stays as it was, and a file that
changed since validation is a user error, not a silent partial load."""

from __future__ import annotations

import pytest
import torch
from spec_texts import dense_spec

from nndsl.api import compile_spec
from nndsl.diagnostics import SpecError
from nndsl.run.init_weights import load_initial_weights
from nndsl.run.trained import build_trained_network

DIGITS_NETWORK = {"repeat": 2, "batch_size": None, "held_out": None, "momentum": None,
                  "metrics": False}
SOURCE = dense_spec("source", 1, lr=0.1, unit_names="hidden{index}", **DIGITS_NETWORK)
TARGET = dense_spec("target", 1, lr=0.1, unit_names="enc{index}", **DIGITS_NETWORK)


def _network(tmp_path, text: str, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    compiled = compile_spec(path).raise_for_errors()
    return compiled, build_trained_network(compiled)


@pytest.fixture
def source_weights(tmp_path):
    torch.manual_seed(0)
    _, source = _network(tmp_path, SOURCE, "source")
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    return source.state_dict()


def test_planned_tensors_arrive_and_nothing_else_moves(tmp_path, source_weights):
    init = "init_from: {path: weights.pt, select: [extractor:C1], rename: {hidden1: enc1}}\n"
    compiled, target = _network(tmp_path, TARGET + init, "target")
    before = {key: value.clone() for key, value in target.state_dict().items()}
    loaded = load_initial_weights(target, compiled.plan.init)
    after = target.state_dict()
    assert loaded == 16 * 64 + 16
    for tensor in ("0.weight", "0.bias"):
        assert torch.equal(after[f"layers.enc1__linear.{tensor}"],
                           source_weights[f"layers.hidden1__linear.{tensor}"])
    changed = {key for key in after if not torch.equal(after[key], before[key])}
    assert changed == {"layers.enc1__linear.0.weight", "layers.enc1__linear.0.bias"}


def test_a_file_changed_since_validation_is_refused(tmp_path, source_weights):
    compiled, target = _network(tmp_path, TARGET + "init_from: {path: weights.pt, rename: "
                                "{hidden1: enc1, hidden2: enc2}}\n", "target")
    state = dict(source_weights)
    state["layers.out.0.weight"] = torch.zeros(10, 17)
    torch.save(state, tmp_path / "weights.pt")
    before = {key: value.clone() for key, value in target.state_dict().items()}
    with pytest.raises(SpecError) as refused:
        load_initial_weights(target, compiled.plan.init)
    (diagnostic,) = refused.value.diagnostics
    assert diagnostic.code == "E466" and "(10, 17)" in diagnostic.message
    # Checked before anything is copied: no half-loaded network.
    assert all(torch.equal(value, before[key]) for key, value in target.state_dict().items())


@pytest.mark.slow
def test_a_phase_starts_from_its_own_init_from(tmp_path, source_weights):
    """The second phase loads `out` at its start and keeps it frozen: the run ends with the
    checkpoint's values there, while the first phase had trained its own."""
    from nndsl.run import train
    from nndsl.run.safe_load import read_state_dict

    schedule = """schedule:
  - {phase: joint, name: first, stop: {max_epochs: 1}}
  - {phase: train, name: second, train: [enc*], stop: {max_epochs: 1},
     init_from: {path: weights.pt, select: [out]}}
trainer: {limit_train_batches: 2}
"""
    (tmp_path / "target.yaml").write_text(TARGET + schedule)
    run = train(str(tmp_path / "target.yaml"), run_dir=str(tmp_path / "run"), progress_bar=False)
    first = read_state_dict(run.directory / "checkpoints" / "first" / "state.pt")
    final = read_state_dict(run.directory / "final_weights.pt")
    for tensor in ("layers.out.0.weight", "layers.out.0.bias"):
        assert not torch.equal(first[tensor], source_weights[tensor])
        assert torch.equal(final[tensor], source_weights[tensor])
    assert not torch.equal(final["layers.enc1__linear.0.weight"],
                           first["layers.enc1__linear.0.weight"])
