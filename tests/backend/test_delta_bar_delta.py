"""Delta-bar-delta: agrees with a hand-written per-weight loop and resumes exactly."""

from __future__ import annotations

import copy

import pytest
import torch

from nndsl.backend.optim.delta_bar_delta import DeltaBarDelta

SETTINGS = {"lr": 0.05, "momentum": 0.9, "increment": 0.1, "decrement": 0.9, "theta": 0.7,
            "weight_decay": 1e-2}


def gradient_of(weights: torch.Tensor, step: int) -> torch.Tensor:
    """Gradient of a fixed quartic with a step-dependent tilt, so signs agree and flip."""
    tilt = torch.tensor([1.0, -2.0, 0.5, 3.0, -0.25], dtype=torch.float64) * (-1) ** (step // 3)
    return weights**3 - weights + tilt


def reference_trajectory(initial: list[float], steps: int) -> list[float]:
    """Jacobs' rule written out per weight with Python floats."""
    weights, gains = list(initial), [1.0] * len(initial)
    traces, velocities = [0.0] * len(initial), [0.0] * len(initial)
    for step in range(steps):
        gradients = gradient_of(torch.tensor(weights, dtype=torch.float64), step).tolist()
        for index, weight in enumerate(weights):
            gradient = gradients[index] + SETTINGS["weight_decay"] * weight
            agreement = traces[index] * gradient
            if agreement > 0:
                gains[index] += SETTINGS["increment"]
            elif agreement < 0:
                gains[index] *= SETTINGS["decrement"]
            traces[index] = (1 - SETTINGS["theta"]) * gradient + SETTINGS["theta"] * traces[index]
            velocities[index] = (SETTINGS["momentum"] * velocities[index]
                                 - SETTINGS["lr"] * gains[index] * gradient)
            weights[index] = weight + velocities[index]
    return weights


def run(parameter: torch.nn.Parameter, optimizer: DeltaBarDelta, steps: range) -> None:
    for step in steps:
        parameter.grad = gradient_of(parameter.detach(), step)
        optimizer.step()


INITIAL = [0.3, -1.2, 0.8, 0.05, 2.0]


def test_matches_reference_loop() -> None:
    parameter = torch.nn.Parameter(torch.tensor(INITIAL, dtype=torch.float64))
    optimizer = DeltaBarDelta([parameter], **SETTINGS)
    run(parameter, optimizer, range(8))
    torch.testing.assert_close(parameter.detach(), torch.tensor(reference_trajectory(INITIAL, 8),
                               dtype=torch.float64), rtol=0, atol=1e-13)
    gains = optimizer.state[parameter]["gain"]
    assert (gains != 1).all()  # every weight both sped up and slowed down at some point
    assert gains.max() > 1 and gains.min() < 1


def test_first_step_is_plain_gradient_descent_and_groups_set_rates() -> None:
    fast = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    slow = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    optimizer = DeltaBarDelta([{"params": [fast], "lr": 0.5}, {"params": [slow]}], lr=0.1)
    fast.grad = torch.tensor([2.0], dtype=torch.float64)
    slow.grad = torch.tensor([2.0], dtype=torch.float64)
    optimizer.step()
    assert fast.item() == pytest.approx(0.0) and slow.item() == pytest.approx(0.8)


def test_state_dict_round_trip_resumes_exactly() -> None:
    parameter = torch.nn.Parameter(torch.tensor(INITIAL, dtype=torch.float64))
    optimizer = DeltaBarDelta([parameter], **SETTINGS)
    run(parameter, optimizer, range(4))
    # A copy, as torch.save would write: state_dict() shares the live state tensors.
    saved_state = copy.deepcopy(optimizer.state_dict())
    saved_weights = parameter.detach().clone()
    run(parameter, optimizer, range(4, 9))
    resumed = torch.nn.Parameter(saved_weights)
    resumed_optimizer = DeltaBarDelta([resumed], lr=1.0)
    resumed_optimizer.load_state_dict(saved_state)
    assert resumed_optimizer.param_groups[0]["lr"] == SETTINGS["lr"]
    run(resumed, resumed_optimizer, range(4, 9))
    assert torch.equal(resumed.detach(), parameter.detach())


def test_rejects_invalid_settings() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError):
        DeltaBarDelta([parameter], lr=0.1, decrement=1.5)
    with pytest.raises(ValueError):
        DeltaBarDelta([parameter], lr=-0.1)
