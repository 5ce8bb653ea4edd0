"""Tempering in torch: attenuation scales backpropagated error exactly; shunting's gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional

from nndsl.backend.tempering import (
    ErrorAttenuation,
    ShuntedLinear,
    attenuate_error,
    shunted_linear,
    tempered_parameter_groups,
)


@pytest.fixture(autouse=True)
def _double_precision():
    """Exact comparisons in float64, restored afterwards so other test modules keep float32."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def make_generator() -> torch.Generator:
    return torch.Generator().manual_seed(3)


def test_attenuation_leaves_forward_and_scales_backward() -> None:
    generator = make_generator()
    tensor = torch.randn(5, 4, generator=generator, requires_grad=True)
    upstream = torch.randn(5, 4, generator=generator)
    output = attenuate_error(tensor, 0.25)
    assert torch.equal(output, tensor)
    output.backward(upstream)
    assert torch.equal(tensor.grad, upstream * 0.25)
    per_unit = torch.tensor([1.0, 0.5, 2.0, 0.0])
    tensor.grad = None
    ErrorAttenuation(per_unit.tolist())(tensor).backward(upstream)
    assert torch.equal(tensor.grad, upstream * per_unit)


def test_attenuation_enters_the_nodes_own_weight_gradient_as_eq_11() -> None:
    """δ_i = α_i f'_i Σ_j w_ij δ_j, and node i's incoming weights learn from that δ_i."""
    generator = make_generator()
    inputs = torch.randn(7, 3, generator=generator)
    hidden_weight = torch.randn(4, 3, generator=generator, requires_grad=True)
    output_weight = torch.randn(2, 4, generator=generator, requires_grad=True)
    targets = torch.randn(7, 2, generator=generator)
    alpha = 1 / math.sqrt(2)
    pre_activation = inputs @ hidden_weight.T
    hidden = attenuate_error(torch.tanh(pre_activation), alpha)
    output = hidden @ output_weight.T
    loss = 0.5 * ((output - targets) ** 2).sum()
    loss.backward()
    # Explicit formula: output error δ_j = t − y, hidden δ_i = α f'(y_i) Σ_j w_ij δ_j.
    output_error = targets - output.detach()
    hidden_error = alpha * (1 - torch.tanh(pre_activation.detach()) ** 2) * (
        output_error @ output_weight.detach())
    torch.testing.assert_close(hidden_weight.grad, -(hidden_error.T @ inputs), rtol=0, atol=1e-12)
    # The layer above is untouched by the attenuation placed below it.
    torch.testing.assert_close(output_weight.grad, -(output_error.T @ torch.tanh(
        pre_activation.detach())), rtol=0, atol=1e-12)


def shunting_case(shape: tuple[int, ...], weight_shape: tuple[int, ...]):
    generator = make_generator()
    inputs = torch.randn(*shape, generator=generator, requires_grad=True)
    weight = torch.randn(*weight_shape, generator=generator, requires_grad=True)
    bias = torch.randn(*weight_shape[:-1], generator=generator, requires_grad=True)
    targets = torch.randn(*shape[:-1], weight_shape[-2], generator=generator)
    return inputs, weight, bias, targets


def loss_of(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # A nonlinear loss summed over the batch, so the per-pattern errors differ.
    return (torch.sigmoid(output) * targets).sum() + (output**2).sum() / 3


def test_shunted_gradients_are_the_centred_and_mean_errors() -> None:
    inputs, weight, bias, targets = shunting_case((6, 4), (3, 4))
    output = shunted_linear(inputs, weight, bias)
    plain = functional.linear(inputs, weight, bias)
    assert torch.equal(output, plain)
    loss_of(output, targets).backward()
    # Hand computation: g(t) = ∂E/∂y(t) by autograd on an explicit copy, then the formulas.
    free_output = plain.detach().requires_grad_(True)
    (errors,) = torch.autograd.grad(loss_of(free_output, targets), free_output)
    centred = errors - errors.mean(dim=0)
    expected_weight = torch.einsum("tj,ti->ji", centred, inputs.detach())
    torch.testing.assert_close(weight.grad, expected_weight, rtol=0, atol=1e-12)
    torch.testing.assert_close(bias.grad, errors.mean(dim=0), rtol=0, atol=1e-12)
    torch.testing.assert_close(inputs.grad, errors @ weight.detach(), rtol=0, atol=1e-12)
    # Equivalently Σ_t g(t) (x(t) − ⟨x⟩): centring errors equals centring inputs (after eq. 21).
    centred_inputs = inputs.detach() - inputs.detach().mean(dim=0)
    torch.testing.assert_close(weight.grad, errors.T @ centred_inputs, rtol=0, atol=1e-12)


def test_shunting_centres_over_every_pattern_dimension() -> None:
    inputs, weight, bias, targets = shunting_case((2, 5, 4), (3, 4))
    loss_of(shunted_linear(inputs, weight, bias), targets).backward()
    reference = [tensor.detach().clone().requires_grad_(True) for tensor in (inputs, weight, bias)]
    flat_output = shunted_linear(reference[0].reshape(10, 4), reference[1], reference[2])
    loss_of(flat_output, targets.reshape(10, 3)).backward()
    torch.testing.assert_close(weight.grad, reference[1].grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(bias.grad, reference[2].grad, rtol=0, atol=1e-12)


def test_stacked_replicas_match_separate_layers() -> None:
    inputs, weight, bias, targets = shunting_case((3, 6, 4), (3, 2, 4))
    output = shunted_linear(inputs, weight, bias)
    ((output - targets) ** 2).sum().backward()
    for replica in range(3):
        layer = ShuntedLinear(4, 2)
        with torch.no_grad():
            layer.weight.copy_(weight[replica])
            layer.bias.copy_(bias[replica])
        replica_output = layer(inputs[replica].detach())
        torch.testing.assert_close(replica_output, output[replica].detach(), rtol=0, atol=1e-12)
        ((replica_output - targets[replica]) ** 2).sum().backward()
        torch.testing.assert_close(layer.weight.grad, weight.grad[replica], rtol=0, atol=1e-12)
        torch.testing.assert_close(layer.bias.grad, bias.grad[replica], rtol=0, atol=1e-12)


def test_parameter_groups_put_shunted_bias_at_the_dc_rate() -> None:
    plain, shunted = torch.nn.Linear(3, 2), ShuntedLinear(2, 1)
    groups = tempered_parameter_groups([("hidden", plain, 0.5), ("output", shunted, 1.5)], 0.04)
    assert [group["name"] for group in groups] == ["hidden", "output", "output.bias"]
    assert groups[0]["lr"] == pytest.approx(0.02) and len(groups[0]["params"]) == 2
    assert groups[1]["params"][0] is shunted.weight and groups[1]["lr"] == pytest.approx(0.06)
    assert groups[2]["params"][0] is shunted.bias and groups[2]["lr"] == 1.5
    optimizer = torch.optim.SGD(groups, lr=0.04, momentum=0.9)
    assert optimizer.state_dict()["param_groups"][2]["rate_multiplier"] == 1.5
