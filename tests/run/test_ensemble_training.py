"""Ensembles compiled from a spec and trained end to end: sMCL specialises members, bagging
draws per-member bootstrap samples, a shared extractor is one module, and the plan rejects what
the backend cannot run."""

from __future__ import annotations

import os
import signal

from pathlib import Path

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.run import train

SPEC = """
nndsl: 1
name: ensemble
seed: 1
data: {{source: digits, batch_size: 64, valid_fraction: 0.2, test_fraction: 0.2}}
network:
  layers:
    - {{name: h1, type: linear, units: 32, activation: relu}}
    - {{name: out, type: linear, units: 10}}
loss: {{type: cross_entropy}}
metrics: [accuracy]
optimizer: {{type: sgd, lr: 0.1, momentum: 0.9}}
cuts: units
ensemble: {ensemble}
schedule:
  - {{phase: joint, stop: {{max_epochs: {epochs}}}}}
trainer: {{limit_train_batches: {batches}}}
"""


def write(tmp_path: Path, ensemble: str, epochs: int = 4, batches: int = 1.0) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(ensemble=ensemble, epochs=epochs, batches=batches))
    return path


@pytest.mark.slow
def test_smcl_members_specialise_and_the_oracle_beats_every_member(tmp_path):
    result = train(str(write(tmp_path, "{members: 4, method: smcl, k: 1}")),
                   run_dir=str(tmp_path / "run"))
    test = result.summary["test"]
    best_member = max(test[f"test/member{index}_accuracy"] for index in range(1, 5))
    assert test["test/oracle_accuracy"] > best_member + 0.2
    # [classes, members]
    assignments = torch.tensor(result.summary["ensemble"]["assignments"], dtype=torch.float)
    purity = (assignments.max(1).values / assignments.sum(1).clamp(min=1)).mean()
    # each class goes (almost) entirely to one member, as in the paper's Figure 4c
    assert purity > 0.8
    assert result.summary["ensemble"]["seeds"] == [1001, 2001, 3001, 4001]
    assert (result.directory / "assignments.png").stat().st_size > 1000


@pytest.mark.slow
def test_bagging_and_shared_extractor_train(tmp_path):
    bagged = train(str(write(tmp_path, "{members: 3, method: bagging}", epochs=2)),
                   run_dir=str(tmp_path / "bag"))
    assert bagged.summary["test"]["test/accuracy"] > 0.5
    (tmp_path / "shared").mkdir()
    shared = train(str(write(tmp_path / "shared", "{members: 3, share: C1, method: independent}",
                             epochs=2)),
                   run_dir=str(tmp_path / "shared_run"))
    weights = torch.load(shared.directory / "final_weights.pt")
    trunk = [name for name in weights if name.startswith("trunk.")]
    assert trunk and all(weights[name].shape[0] != 3 or "out" not in name for name in trunk)
    assert shared.summary["test"]["test/oracle_accuracy"] >= shared.summary["test"]["test/accuracy"]


def test_plan_records_sharing_memory_and_rejections(tmp_path):
    plan = compile_spec(write(tmp_path, "{members: 4, share: C1}")).plan
    assert plan.ensemble.shared_layers == ("h1",) and plan.ensemble.member_layers == ("out",)
    assert plan.ensemble.memory_multiplier == pytest.approx((2080 + 4 * 330) / 2410)
    bad = write(tmp_path, "{members: 2, k: 3, method: smcl}")
    assert "E410" in {item.code for item in compile_spec(bad).diagnostics}
    bad = write(tmp_path, "{members: 2, share: C9}")
    assert "E403" in {item.code for item in compile_spec(bad).diagnostics}


@pytest.mark.slow
def test_interrupted_ensemble_resumes_to_the_same_result(tmp_path, monkeypatch):
    from lightning.pytorch.callbacks import Callback

    from nndsl.run import session
    from nndsl.run.schedule import Interrupted

    class InterruptAfterOneEpoch(Callback):
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == 0:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the run stops after the next batch

    spec = write(tmp_path, "{members: 3, method: smcl}", epochs=3)
    reference = train(str(spec), run_dir=str(tmp_path / "reference"), progress_bar=False)
    original = session.trainer_for
    monkeypatch.setattr(session, "trainer_for", lambda context, label, stop, callbacks: original(
        context, label, stop, [*callbacks, InterruptAfterOneEpoch()]))
    with pytest.raises(Interrupted):
        train(str(spec), run_dir=str(tmp_path / "interrupted"), progress_bar=False)
    monkeypatch.setattr(session, "trainer_for", original)
    resumed = train(None, resume=str(tmp_path / "interrupted"), progress_bar=False)
    assert resumed.summary["test"] == pytest.approx(reference.summary["test"])
