"""Plants are never trained; online training keeps stream order; hardware limits hold after
`nndsl train` (the active-noise-cancelling specs, shortened)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.run import train
from nndsl.run.schedule import Interrupted

ROOT = Path(__file__).resolve().parents[2]

FIR_SPEC = """
nndsl: 1
name: fir-plant
data: {source: synthetic_speech, examples: 8, symbols: 3, feature_dim: 4, batch_size: 2}
network:
  layers:
    - {name: hidden, type: linear, units: 4, activation: tanh}
    - {name: room, type: fir_channel, taps: [0.174, 0.6, 0.6, 0.174]}
loss: {type: ctc}
optimizer: {type: sgd, lr: 0.5}
"""


def test_a_plant_in_a_built_network_stays_fixed_while_the_network_learns(tmp_path):
    compiled = compile_spec(tmp_path / "spec.yaml", text=FIR_SPEC)
    assert compiled.ok, [str(diagnostic) for diagnostic in compiled.diagnostics]
    torch.manual_seed(0)
    network = GraphModule(compiled.graph)
    taps = network.layer("room").taps.clone()
    hidden = network.layer("hidden")[0].weight.detach().clone()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.5)
    for _ in range(5):
        output, _ = network(torch.randn(2, 7, 4))
        optimizer.zero_grad()
        output.pow(2).sum().backward()  # the error reaches `hidden` through the plant
        optimizer.step()
    assert torch.equal(network.layer("room").taps, taps)
    assert not torch.equal(network.layer("hidden")[0].weight, hidden)
    assert all("room" not in name for name, _ in network.named_parameters())


@pytest.mark.slow
def test_online_analog_canceller_trains_and_its_limits_hold(tmp_path):
    result = train(str(ROOT / "specs/anc_analog_h1.yaml"), overrides=["data.samples=300"],
                   run_dir=str(tmp_path / "run"))
    state = torch.load(result.directory / "final_weights.pt")
    # the plant never changes
    assert float(state["layers.speaker.distortion"]) == pytest.approx(0.3)
    weights = [value for key, value in state.items() if key.endswith(("weight", "bias"))]
    assert weights and all(value.abs().max() <= 1.0 for value in weights)  # clipping holds
    import csv

    logged = next((result.directory / "logs").rglob("metrics.csv"))
    scores = [float(row["valid/nrr"]) for row in csv.DictReader(logged.open()) if row["valid/nrr"]]
    assert scores and scores[-1] < -3.0  # it cancels: below -3 dB after 270 samples


@pytest.mark.slow
def test_online_training_visits_the_stream_in_order(tmp_path, monkeypatch):
    from nndsl.backend import lightning_module

    seen: list[float] = []
    original = lightning_module.NndslModule.training_step

    def recording(self, batch, batch_index):
        seen.append(float(batch["targets"].reshape(-1)[0]))
        assert batch["inputs"].shape[0] == 1
        return original(self, batch, batch_index)

    monkeypatch.setattr(lightning_module.NndslModule, "training_step", recording)
    train(str(ROOT / "specs/anc_mlp_h1.yaml"), overrides=["data.samples=200"],
          run_dir=str(tmp_path / "run"))
    from nndsl.data.engine_noise import EngineNoise, EngineNoiseParams
    from nndsl.data.splits import split_arrays

    arrays = EngineNoise().load(EngineNoiseParams(samples=200), Path("."), seed=1)
    stream = split_arrays(arrays, 0.1, 0.0, 1).train.targets.reshape(-1).tolist()
    assert seen == pytest.approx(stream)


@pytest.mark.slow
def test_a_canceller_learns_through_a_channel_plant_after_its_speaker(tmp_path):
    # The secondary path in the network (time-major windows, `keep: last`), the primary in the
    # data: the error after the channel reaches both runs of the MLP, and it cancels.
    result = train(str(ROOT / "specs/anc_mlp_h2_two_paths.yaml"), overrides=["data.samples=600"],
                   run_dir=str(tmp_path / "run"))
    state = torch.load(result.directory / "final_weights.pt")
    assert state["layers.path.taps"].tolist() == pytest.approx([0.894, 0.447])  # never trained
    import csv

    logged = next((result.directory / "logs").rglob("metrics.csv"))
    scores = [float(row["valid/nrr"]) for row in csv.DictReader(logged.open()) if row["valid/nrr"]]
    assert scores and scores[-1] < -3.0  # it cancels: below -3 dB after 540 samples


class _InterruptMidStream(Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        if batch_index == 100:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the stream


@pytest.mark.slow
def test_an_interrupted_online_run_resumes_in_stream_order(tmp_path, monkeypatch):
    spec = str(ROOT / "specs/anc_analog_h1.yaml")
    reference = train(spec, overrides=["data.samples=300"], run_dir=str(tmp_path / "reference"))
    from nndsl.run import session

    original = session.trainer_for
    monkeypatch.setattr(session, "trainer_for", lambda context, label, stop, callbacks: original(
        context, label, stop, [*callbacks, _InterruptMidStream()]))
    with pytest.raises(Interrupted):
        train(spec, overrides=["data.samples=300"], run_dir=str(tmp_path / "interrupted"))
    monkeypatch.setattr(session, "trainer_for", original)
    resumed = train(None, resume=str(tmp_path / "interrupted"))
    expected = torch.load(reference.directory / "final_weights.pt")
    got = torch.load(resumed.directory / "final_weights.pt")
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[key], got[key], atol=1e-6) for key in expected)
