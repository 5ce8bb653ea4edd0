"""Online training from a lazily read source: the same updates, in the same order, as online
training on the same data loaded whole; an interrupted run resumes in mid-stream to the same end.

The stream is the engine-noise canceller's (25-tap delay line -> disturbance), written to a
directory of .npy arrays that `npy_dir` reads memory-mapped (`lazy: true`) or whole
(`lazy: false`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from interrupting import assert_same_run, interrupt_at
from lightning.pytorch.callbacks import Callback

from nndsl.run import train
from nndsl.run.schedule import Interrupted

SPEC = """
nndsl: 1
name: online-lazy
seed: 5
data: {source: npy_dir, path: stream, lazy: LAZY, batch_size: 1, online: true,
       valid_fraction: 0.1, standardize: true}
network:
  layers:
    - {name: hidden, type: linear, units: 6, activation: tanh}
    - {name: drive, type: linear, units: 1}
    - {name: speaker, type: cubic_speaker, a: 0.3}
loss: {type: mse}
metrics: [nrr]
optimizer: {type: sgd, lr: 0.03}
trainer: {max_epochs: 2}
"""


class RecordUpdates(Callback):
    """Every training example's target and the network's weights after its update."""

    def __init__(self) -> None:
        self.targets: list[float] = []
        self.weights: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        assert batch["inputs"].shape[0] == 1  # one example per update
        self.targets.append(float(batch["targets"].reshape(-1)[0]))
        self.weights.append(torch.cat([parameter.detach().reshape(-1).clone()
                                       for parameter in module.network.parameters()]))


class StartCounting(Callback):
    def __init__(self) -> None:
        self.started = False

    def on_train_start(self, trainer, module) -> None:
        self.started = True


def _write_stream(folder: Path) -> None:
    from nndsl.data.engine_noise import EngineNoise, EngineNoiseParams

    arrays = EngineNoise().load(EngineNoiseParams(samples=160), Path("."), seed=5)
    folder.mkdir(parents=True)
    np.save(folder / "inputs.npy", arrays.inputs)
    np.save(folder / "targets.npy", arrays.targets)


def _recorded_run(root: Path, lazy: bool, monkeypatch) -> RecordUpdates:
    from nndsl.run import session

    (root / "spec.yaml").write_text(SPEC.replace("LAZY", "true" if lazy else "false"))
    recorder = RecordUpdates()
    original = session.trainer_for
    with monkeypatch.context() as patch:
        patch.setattr(session, "trainer_for", lambda context, label, stop, callbacks: original(
            context, label, stop, [*callbacks, recorder]))
        train(str(root / "spec.yaml"), run_dir=str(root / f"run-{lazy}"), progress_bar=False)
    return recorder


@pytest.fixture(scope="module")
def stream_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("online")
    _write_stream(root / "stream")
    return root


@pytest.mark.slow
def test_online_on_a_lazy_source_makes_the_in_memory_updates(stream_root, monkeypatch):
    from nndsl.data.splits import split_indices

    lazy = _recorded_run(stream_root, True, monkeypatch)
    whole = _recorded_run(stream_root, False, monkeypatch)
    train_rows = split_indices(160, 0.1, 0.0, 5).train
    targets = np.load(stream_root / "stream/targets.npy").reshape(-1)
    stream = [float(value) for value in targets[train_rows]]
    assert lazy.targets == stream * 2  # stream order, both epochs, no shuffling
    assert whole.targets == lazy.targets
    assert len(lazy.weights) == 2 * len(stream)
    for step, (expected, got) in enumerate(zip(whole.weights, lazy.weights)):
        assert torch.equal(expected, got), f"update {step} differs"
    assert not torch.equal(lazy.weights[0], lazy.weights[-1])  # it learned


@pytest.mark.slow
def test_online_on_a_lazy_source_resumes_in_mid_stream(stream_root, tmp_path, monkeypatch):
    from nndsl.data.lazy_npy import NpyStore

    (stream_root / "spec.yaml").write_text(SPEC.replace("LAZY", "true"))
    reference = stream_root / "run-reference"
    train(str(stream_root / "spec.yaml"), run_dir=str(reference), progress_bar=False)
    read: list[int] = []
    original_examples = NpyStore.examples
    with monkeypatch.context() as patch:
        interrupt_at(patch, "joint", 1, 57)
        with pytest.raises(Interrupted):
            train(str(stream_root / "spec.yaml"), run_dir=str(tmp_path / "run"),
                  progress_bar=False)
    training = StartCounting()
    with monkeypatch.context() as patch:
        def counting(self, rows):
            if training.started:  # (the statistics pass before training reads the split once)
                read.extend(rows)
            return original_examples(self, rows)

        from nndsl.run import session

        original = session.trainer_for
        patch.setattr(NpyStore, "examples", counting)
        patch.setattr(session, "trainer_for", lambda context, label, stop, callbacks: original(
            context, label, stop, [*callbacks, training]))
        train(None, resume=str(tmp_path / "run"), progress_bar=False)
    assert_same_run(tmp_path / "run", reference)
    # The resumed run reads the rest of the stream, one example at a time, then the validation
    # split once: the examples before the interruption are not read again.
    from nndsl.data.splits import split_indices

    rows = split_indices(160, 0.1, 0.0, 5)
    streamed = read[:-len(rows.valid)]
    assert read[-len(rows.valid):] == list(rows.valid)
    assert 0 < len(streamed) <= len(rows.train) - 57
    assert streamed == list(rows.train[-len(streamed):])
