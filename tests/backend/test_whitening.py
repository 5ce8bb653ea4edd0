"""Whitened (PRONG) layers and the re-whitening callback against Desjardins et al. (2015)."""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nndsl.backend.callbacks.rewhitening import Rewhitening, rewhiten_layers
from nndsl.backend.modules.whitened import WhitenedLinear, estimate_whitening


def correlated_data(rows: int, features: int, seed: int) -> torch.Tensor:
    """Inputs with a non-zero mean and strongly correlated features of very different scales."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(features, features, generator=generator) * torch.logspace(-1, 1, features)
    return torch.randn(rows, features, generator=generator) @ mixing + 3.0  # (rows, features)


def test_estimate_whitening_gives_identity_covariance() -> None:
    samples = correlated_data(500, 5, seed=0)
    mean, whitening = estimate_whitening(samples, epsilon=1e-9)
    torch.testing.assert_close(mean, samples.mean(0))
    whitened = (samples.double() - mean.double()) @ whitening.double().T  # (500, 5)
    covariance = whitened.T @ whitened / 500
    torch.testing.assert_close(covariance, torch.eye(5, dtype=torch.float64), atol=1e-5, rtol=0)
    # ε shrinks each direction to λ / (λ + ε): a large ε must visibly leave identity.
    _, regularised = estimate_whitening(samples, epsilon=10.0)
    shrunk = (samples.double() - mean.double()) @ regularised.double().T
    assert (torch.diagonal(shrunk.T @ shrunk / 500) < 0.99).any()


@pytest.mark.parametrize("activation", [None, nn.Tanh()])
def test_reparametrise_keeps_the_function(activation: nn.Module | None) -> None:
    torch.manual_seed(0)
    layer = WhitenedLinear(5, 3, activation=activation)
    inputs = correlated_data(64, 5, seed=1)
    before = layer(inputs)
    for seed in (2, 3):  # twice, so the second change starts from a non-trivial U, c
        layer.reparametrise(*estimate_whitening(correlated_data(200, 5, seed), epsilon=1e-2))
        torch.testing.assert_close(layer(inputs), before, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(layer.whitening, torch.eye(5))
    assert {name for name, _ in layer.named_buffers()} == {"whitening", "mean"}


def test_rewhitening_all_layers_first_keeps_a_deep_function() -> None:
    torch.manual_seed(1)
    first, second = WhitenedLinear(5, 4, nn.Tanh()), WhitenedLinear(4, 2)
    model = nn.Sequential(first, second)
    inputs = correlated_data(100, 5, seed=4)
    before = model(inputs)
    hidden = first(inputs).detach()
    rewhiten_layers([(first, *estimate_whitening(inputs, 1e-3)),
                     (second, *estimate_whitening(hidden, 1e-3))])
    torch.testing.assert_close(model(inputs), before, atol=1e-5, rtol=1e-5)


class TinyRegression(pl.LightningModule):
    """Two whitened layers under SGD with learning rate 0: only re-whitening changes them."""

    def __init__(self) -> None:
        super().__init__()
        self.network = nn.Sequential(WhitenedLinear(5, 6, nn.Tanh()), WhitenedLinear(6, 2))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.network(inputs)

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        return ((self(inputs) - targets) ** 2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0, momentum=0.9)


class Probe(pl.Callback):
    """Records, after Rewhitening has run, the first layer's U and whether its V has momentum."""

    def __init__(self) -> None:
        self.whitenings: list[torch.Tensor] = []
        self.has_momentum: list[bool] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        layer = pl_module.network[0]
        self.whitenings.append(layer.whitening.clone())
        self.has_momentum.append("momentum_buffer" in trainer.optimizers[0].state[layer.weight])


def dataset() -> TensorDataset:
    return TensorDataset(correlated_data(64, 5, seed=5), torch.randn(64, 2))


def fit(model: TinyRegression, callbacks: list, max_steps: int, checkpoint=None) -> pl.Trainer:
    trainer = pl.Trainer(
        max_steps=max_steps, accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        deterministic=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few-worker and small-batch advice from Lightning
        loader = DataLoader(dataset(), batch_size=16, shuffle=True)
        trainer.fit(model, loader, ckpt_path=checkpoint)
    return trainer


def test_rewhitening_in_a_trainer_keeps_the_function_and_whitens_inputs(tmp_path) -> None:
    torch.manual_seed(2)
    model = TinyRegression()
    inputs = dataset().tensors[0]
    before = model(inputs).detach()
    rewhitening, probe = Rewhitening(every_n_updates=2, samples=64, epsilon=1e-6), Probe()
    fit(model, [rewhitening, probe], max_steps=5)
    torch.testing.assert_close(model(inputs), before, atol=1e-5, rtol=1e-5)
    # Re-whitened before updates 0, 2 and 4; momentum was dropped then and rebuilt in between.
    assert rewhitening.updates == 5 and rewhitening.last_rewhitened_update == 4
    assert probe.has_momentum == [False, True, False, True, False]
    assert not torch.allclose(probe.whitenings[0], torch.eye(5))
    # All 64 examples were used, so each layer's whitened input is white up to ε / λ.
    first, second = model.network
    with torch.no_grad():
        for layer, layer_inputs in ((first, inputs), (second, first(inputs))):
            whitened = layer.whiten(layer_inputs).double()
            covariance = torch.cov(whitened.T, correction=0)
            identity = torch.eye(layer.in_features, dtype=torch.float64)
            torch.testing.assert_close(covariance, identity, atol=1e-3, rtol=0)

    # Resume from a checkpoint: buffers and the callback's counter come back. 32 of the 64
    # examples, so that every re-whitening draws a different subset and gives a different U.
    path = tmp_path / "rewhitening.ckpt"
    trainer = fit(TinyRegression(), [Rewhitening(2, 32, 1e-6)], max_steps=3)
    trainer.save_checkpoint(path)
    saved_whitening = trainer.lightning_module.network[0].whitening.clone()
    resumed, resumed_probe = Rewhitening(2, 32, 1e-6), Probe()
    fit(TinyRegression(), [resumed, resumed_probe], max_steps=5, checkpoint=str(path))
    assert resumed.updates == 5 and resumed.last_rewhitened_update == 4
    # Update 3 is no re-whitening step: it starts from the restored U and momentum; 4 resets both.
    assert torch.equal(resumed_probe.whitenings[0], saved_whitening)
    assert not torch.equal(resumed_probe.whitenings[1], saved_whitening)
    assert resumed_probe.has_momentum == [True, False]


def test_callback_state_round_trips() -> None:
    callback = Rewhitening(every_n_updates=10, samples=256, epsilon=1e-2)
    callback.updates, callback.last_rewhitened_update = 37, 30
    restored = Rewhitening(every_n_updates=10, samples=256, epsilon=1e-2)
    restored.load_state_dict(callback.state_dict())
    assert restored.state_dict() == {"updates": 37, "last_rewhitened_update": 30}
    assert restored.state_key == callback.state_key != Rewhitening(5, 256).state_key
