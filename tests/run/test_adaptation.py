"""Adapt phases: the selected layers learn from the network's own decisions on unlabelled
inputs, frozen layers never change, labels are never read, and the phase resumes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from nndsl.api import compile_spec
from nndsl.backend.adaptation import own_decision_targets
from nndsl.run import train
from nndsl.run.schedule import Interrupted

SPEC = """
nndsl: 1
name: adapt-digits
seed: 3
data: {source: digits, batch_size: 32, valid_fraction: 0.2, test_fraction: 0.05}
network:
  layers:
    - {name: unmix, type: ica, gamma: 1.0, independence: false}
    - {name: hidden, type: linear, units: 16, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.1}
schedule:
  - {phase: train, name: classifier, train: [hidden, out], stop: {max_epochs: 2}}
  - {phase: adapt, train: [unmix], sweeps: 2, optimizer: {type: sgd, lr: 0.001}}
"""


@pytest.fixture()
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def test_own_decision_is_plus_one_at_the_winner_and_minus_one_elsewhere():
    outputs = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    assert own_decision_targets(outputs).tolist() == [[-1, 1, -1], [1, -1, -1]]


def test_adapt_phase_plans_like_a_train_phase_with_its_sweeps(spec_file):
    compiled = compile_spec(spec_file)
    assert compiled.ok, compiled.diagnostics
    adapt = compiled.plan.phases[1]
    assert adapt.kind == "adapt" and tuple(adapt.trainable) == ("unmix",)
    assert tuple(adapt.frozen) == ("hidden", "out") and adapt.stop.max_epochs == 2


@pytest.mark.slow
def test_adaptation_moves_only_the_selected_layer_and_never_reads_labels(spec_file, tmp_path,
                                                                         monkeypatch):
    from nndsl.backend import adaptation

    steps = {"count": 0}
    original = adaptation.AdaptationModule.training_step

    def unlabelled(self, batch, batch_index):
        steps["count"] += 1
        assert batch["inputs"].shape[0] == 1
        batch = {key: value for key, value in batch.items() if key != "targets"}
        return original(self, batch, batch_index)  # a KeyError here if it read the labels

    monkeypatch.setattr(adaptation.AdaptationModule, "training_step", unlabelled)
    result = train(str(spec_file), run_dir=str(tmp_path / "run"))
    before = torch.load(result.directory / "checkpoints/classifier/state.pt")
    after = torch.load(result.directory / "checkpoints/adapt/state.pt")
    for key in before:
        if key.startswith(("layers.hidden.", "layers.out.")):
            assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["layers.unmix.weight"], after["layers.unmix.weight"])
    test_examples = 90  # 5% of 1797, rounded as the splitter does
    assert abs(steps["count"] - 2 * test_examples) <= 2


class _InterruptAdaptation(Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        if trainer.current_epoch == 1 and batch_index == 10:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
def test_an_interrupted_adaptation_resumes_to_the_same_weights(spec_file, tmp_path,
                                                                 monkeypatch):
    reference = train(str(spec_file), run_dir=str(tmp_path / "reference"))
    from nndsl.run import session

    original = session.trainer_for

    def interrupting(context, label, stop, callbacks):
        extra = [_InterruptAdaptation()] if label == "adapt" else []
        return original(context, label, stop, [*callbacks, *extra])

    monkeypatch.setattr(session, "trainer_for", interrupting)
    with pytest.raises(Interrupted):
        train(str(spec_file), run_dir=str(tmp_path / "interrupted"))
    monkeypatch.setattr(session, "trainer_for", original)
    resumed = train(None, resume=str(tmp_path / "interrupted"))
    expected = torch.load(reference.directory / "final_weights.pt")
    got = torch.load(resumed.directory / "final_weights.pt")
    assert torch.allclose(expected["layers.unmix.weight"], got["layers.unmix.weight"], atol=1e-6)
