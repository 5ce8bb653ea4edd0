"""Backend stage: a spec's `hardware:` limits applied to a built network.

In: the graph module and the validated `HardwareSpec`. Out: the same module, changed in place:
every `nn.Linear` inside it becomes a `ConstrainedLinear` (same parameters and state-dict keys,
plus a fixed `offset` buffer), and the network's input passes the input converter's quantiser.
The check stage admits `hardware:` only where that covers every weight: `linear` layers and
parameter-free ones (E487).

- Quantisation is straight-through: the forward pass uses weights rounded to 2^bits levels over
  the weight range, the backward pass treats the rounding as the identity, and the update lands
  on the float "shadow" weights, so steps smaller than one level still accumulate.
  Without shadow weights (`shadow_weights: false`) the stored weights themselves are rounded
  to the levels after every update: an update below half a level is lost, as on a device.
- Clipping keeps the stored weights inside the range: before each forward pass and, through
  `HardwareClipping`, after each optimiser step, so a finished run's weights lie inside it.
- Offsets are drawn once (seeded) and never learned: a multiplier's fixed error.
- Learning rates: with `lr_grid`, every optimiser step uses in each parameter group the grid's
  rate nearest (log scale) to the group's rate as the plan and scheduler set it
  (`snap_rates_to_grid`). The spec's own rates are on the grid already (E484); what moves off
  it are the rates derived from them: per-layer tempered rates and scheduled decays.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback
from torch import nn
from torch.nn import functional

from nndsl.spec.hardware import HardwareSpec, nearest_rate


def quantise(values: torch.Tensor, low: float, high: float, bits: int) -> torch.Tensor:
    """`values` clipped to [low, high] and rounded to the nearest of 2^bits evenly spaced levels."""
    step = (high - low) / (2**bits - 1)
    return low + torch.round((values.clamp(low, high) - low) / step) * step


def straight_through(values: torch.Tensor, low: float, high: float, bits: int) -> torch.Tensor:
    """Quantised values forward, the identity backward (the straight-through estimator)."""
    return values + (quantise(values, low, high, bits) - values).detach()


class ConstrainedLinear(nn.Linear):
    """`nn.Linear` with clipped, quantised weights and biases and a fixed offset per output."""

    def __init__(self, source: nn.Linear, hardware: HardwareSpec, generator: torch.Generator):
        super().__init__(source.in_features, source.out_features, bias=source.bias is not None)
        self.load_state_dict(source.state_dict())
        self.weight_range = hardware.weight_range
        self.weight_bits = hardware.weight_bits
        self.shadow_weights = hardware.shadow_weights
        offsets = torch.randn(source.out_features, generator=generator) * hardware.offset
        self.register_buffer("offset", offsets)

    def clip_(self) -> None:
        """Clip the stored weights and biases to the range (the device's saturation), and round
        them to the levels when the device keeps no shadow weights."""
        if self.weight_range is None:
            return
        with torch.no_grad():
            for parameter in self.parameters():
                if self.weight_bits is not None and not self.shadow_weights:
                    parameter.copy_(quantise(parameter, *self.weight_range, self.weight_bits))
                else:
                    parameter.clamp_(*self.weight_range)

    def effective(self, parameter: torch.Tensor) -> torch.Tensor:
        """The value the forward pass uses: quantised when the device has a bit count (stored
        weights are on the levels already when there are no shadow weights)."""
        if self.weight_bits is None or self.weight_range is None or not self.shadow_weights:
            return parameter
        return straight_through(parameter, *self.weight_range, self.weight_bits)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.training or not self.shadow_weights:
            # What the device holds: inside the range (and on the levels without shadows),
            # also right after a re-initialisation, before any update has been clipped.
            self.clip_()
        bias = None if self.bias is None else self.effective(self.bias)
        return functional.linear(inputs, self.effective(self.weight), bias) + self.offset


def apply_hardware(network: nn.Module, hardware: HardwareSpec, seed: int) -> nn.Module:
    """Constrain every `nn.Linear` in `network` and quantise its input; returns `network`."""
    generator = torch.Generator().manual_seed(seed)
    for module in list(network.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                setattr(module, name, ConstrainedLinear(child, hardware, generator))
    if hardware.input_bits is not None and hardware.input_range is not None:
        low, high = hardware.input_range
        bits = hardware.input_bits

        def quantise_input(module: nn.Module, arguments: tuple[Any, ...]) -> tuple[Any, ...]:
            return (quantise(arguments[0], low, high, bits), *arguments[1:])

        network.register_forward_pre_hook(quantise_input)
    return network


def constrained_layers(network: nn.Module) -> list[ConstrainedLinear]:
    return [module for module in network.modules() if isinstance(module, ConstrainedLinear)]


class HardwareClipping(Callback):
    """After every optimiser step, clip the constrained layers' stored weights to their range."""

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any,
                           batch_index: int) -> None:
        for layer in constrained_layers(module):
            layer.clip_()


def snap_rates_to_grid(optimizer: torch.optim.Optimizer, grid: tuple[float, ...]) -> None:
    """Make every step of `optimizer` use, in each group, the grid's rate nearest the group's
    rate (`nearest_rate`). The group's own rate is put back after the step, so a scheduler goes
    on from the rates it set (a decaying rate steps down the grid as it passes each midpoint
    instead of compounding the rounding), and a checkpoint keeps the scheduled rates."""
    scheduled: list[float] = []

    def before(optimizer: torch.optim.Optimizer, *arguments: Any) -> None:
        scheduled[:] = [group["lr"] for group in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] = nearest_rate(float(group["lr"]), grid)

    def after(optimizer: torch.optim.Optimizer, *arguments: Any) -> None:
        for group, rate in zip(optimizer.param_groups, scheduled):
            group["lr"] = rate

    optimizer.register_step_pre_hook(before)
    optimizer.register_step_post_hook(after)
