"""Plants (fixed FIR channel, cubic loudspeaker), hardware limits and the noise-reduction ratio."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nndsl.backend.hardware import (
    ConstrainedLinear,
    HardwareClipping,
    apply_hardware,
    constrained_layers,
    quantise,
)
from nndsl.backend.modules.plants import CubicSpeakerModule, FirChannelModule
from nndsl.backend.noise_reduction import NoiseReductionRatio
from nndsl.spec.hardware import HardwareSpec


def test_fir_channel_is_a_causal_filter_along_time():
    channel = FirChannelModule((0.174, 0.6, 0.6, 0.174))
    impulse = torch.zeros(1, 6, 2)
    impulse[0, 1, 0] = 1.0  # an impulse at step 1 in feature 0 only
    response = channel(impulse)
    assert response[0, :, 0].tolist() == pytest.approx([0, 0.174, 0.6, 0.6, 0.174, 0])
    assert torch.all(response[0, :, 1] == 0)


def test_cubic_speaker_and_its_gradient():
    speaker = CubicSpeakerModule(0.5)
    drive = torch.tensor([0.0, 1.0, -2.0], requires_grad=True)
    sound = speaker(drive)
    assert sound.tolist() == pytest.approx([0.0, 0.5, -2.0 + 4.0])
    sound.sum().backward()
    assert drive.grad.tolist() == pytest.approx([1.0, 1 - 1.5, 1 - 6.0])  # 1 - 3a·u²


def test_a_plant_has_no_parameters_and_its_coefficients_travel_with_the_state():
    channel = FirChannelModule((0.894, 0.447))
    assert list(channel.parameters()) == []
    assert set(channel.state_dict()) == {"taps"}


def test_quantise_rounds_to_evenly_spaced_levels_and_saturates():
    levels = quantise(torch.linspace(-3, 3, 101), -1.0, 1.0, 2)  # 4 levels: -1, -1/3, 1/3, 1
    assert {round(value, 5) for value in levels.tolist()} == {-1.0, -0.33333, 0.33333, 1.0}


def _constrained(hardware: HardwareSpec) -> nn.Sequential:
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    with torch.no_grad():
        network[0].weight.mul_(10)  # some weights start far outside the range
    return apply_hardware(network, hardware, seed=3)


def _on_grid(values: torch.Tensor, low: float, high: float, bits: int) -> bool:
    steps = (values - low) / ((high - low) / (2**bits - 1))
    return bool(torch.allclose(steps, steps.round(), atol=1e-4))


def test_quantised_weights_stay_on_the_grid_and_clipping_holds_while_training():
    hardware = HardwareSpec(weight_bits=4, weight_range=(-0.5, 0.5))
    network = _constrained(hardware)
    layers = constrained_layers(network)
    assert len(layers) == 2 and all(type(layer) is ConstrainedLinear for layer in layers)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(1)
    clipping = HardwareClipping()
    first = [layer.weight.detach().clone() for layer in layers]
    for step in range(30):
        inputs = torch.randn(1, 4, generator=generator)
        loss = (network(inputs) - inputs.sum()).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        clipping.on_train_batch_end(None, network, None, None, step)
        for layer in layers:
            for parameter in (layer.weight, layer.bias):
                assert parameter.min() >= -0.5 and parameter.max() <= 0.5  # clipping holds
                assert _on_grid(layer.effective(parameter).detach(), -0.5, 0.5, 4)
    # Straight-through: the float shadow weights moved by less than one level in places.
    assert any(not torch.equal(layer.weight, before) for layer, before in zip(layers, first))
    assert not all(_on_grid(layer.weight.detach(), -0.5, 0.5, 4) for layer in layers)


def test_offsets_are_fixed_seeded_and_input_is_quantised():
    hardware = HardwareSpec(offset=0.1, input_bits=1, input_range=(-1.0, 1.0))
    network = _constrained(hardware)
    again = _constrained(hardware)
    assert torch.equal(constrained_layers(network)[0].offset, constrained_layers(again)[0].offset)
    assert "offset" in dict(constrained_layers(network)[0].named_buffers())
    assert all("offset" not in name for name, _ in network.named_parameters())
    # With a 1-bit converter inputs of the same sign give the same output.
    assert torch.equal(network(torch.full((1, 4), 0.3)), network(torch.full((1, 4), 0.9)))


def test_noise_reduction_ratio():
    metric = NoiseReductionRatio()
    disturbance = torch.tensor([[1.0], [-1.0], [2.0], [0.5]])
    metric.update(disturbance * 0.9, disturbance)  # residual is a tenth of the disturbance
    assert float(metric.compute()) == pytest.approx(10 * math.log10(0.01), abs=1e-4)
    metric.reset()
    metric.update(torch.zeros(4, 1), disturbance)  # cancelling nothing: 0 dB
    assert float(metric.compute()) == pytest.approx(0.0, abs=1e-6)


def test_without_shadow_weights_the_stored_weights_are_on_the_grid_and_small_updates_vanish():
    hardware = HardwareSpec(weight_bits=3, weight_range=(-1.0, 1.0), shadow_weights=False)
    network = _constrained(hardware)
    layers = constrained_layers(network)
    clipping = HardwareClipping()
    clipping.on_train_batch_end(None, network, None, None, 0)
    before = [layer.weight.detach().clone() for layer in layers]
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-4)  # far below half a level
    for step in range(5):
        loss = network(torch.randn(1, 4)).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        clipping.on_train_batch_end(None, network, None, None, step)
        for layer in layers:
            assert _on_grid(layer.weight.detach(), -1.0, 1.0, 3)
            assert _on_grid(layer.bias.detach(), -1.0, 1.0, 3)
    assert all(torch.equal(layer.weight, old) for layer, old in zip(layers, before))
