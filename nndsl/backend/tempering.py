"""Backend stage: tempering in torch — error attenuation, error shunting, tempered parameter groups.

In: a plan's `TemperingTable` values (α_i, 1/φ_j, η_j/η, shunting flags), placed on modules by the
compiler. Out: autograd functions and modules that change only the backward pass, and optimiser
parameter-group dicts with the per-node rates (Schraudolph & Sejnowski, "Tempering
backpropagation networks").

How the factors are applied (the compiler wires exactly this):

* Attenuation α_i: `attenuate_error(x_i, α_i)` (or `ErrorAttenuation`) placed on the *output of
  hidden layer i's activation*. Forward is the identity; backward multiplies ∂E/∂x_i by α_i, so the
  error through the activation is δ_i = α_i f'_i Σ_j w_ij δ_j (eq. 11). The node's own incoming
  weights therefore learn from the attenuated δ_i, and every layer below inherits the factor:
  effective rate = η_j × α of its layer and all layers above. The same function scales an output's
  error by 1/φ_j when placed on the output (needed for quadratic loss only).
* Shunting: `ShuntedLinear` (or `shunted_linear`) computes the usual affine map, but its weight
  gradient is the centred-error one Σ_t (g_j(t) − ⟨g_j⟩) x_i(t) and its bias gradient the mean
  error ⟨g_j⟩ = (1/|T|) Σ_t g_j(t), with g = ∂E/∂y = −δ for a loss *summed* over the batch (the
  paper's batch update (15)). The input gradient is the ordinary, uncentred one. The factors of
  eq. (21), Δw_0j = (η_j/η)(1/|T|) Σ_t δ_j(t), are split as: 1/|T| in the gradient (the mean), η_j/η
  in the optimiser rate — `tempered_parameter_groups` gives a shunted bias the rate η_j/η, *not*
  base_lr × η_j/η, so the bias learns at the d.c. rate whatever the global rate η.
* Local rates η_j = η × (η_j/η): one optimiser parameter group per node, lr = base_lr × multiplier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional


class _AttenuateError(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by a fixed factor."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, attenuation: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(attenuation)
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> tuple[torch.Tensor, None]:
        (attenuation,) = ctx.saved_tensors
        return gradient * attenuation, None


def attenuate_error(tensor: torch.Tensor, attenuation: float | torch.Tensor) -> torch.Tensor:
    """Returns `tensor` unchanged, but scales the error backpropagated through it by α.

    Args:
        tensor: A hidden layer's activation output `(..., units)`.
        attenuation: α, a scalar or a tensor broadcastable to `tensor` (e.g. one per unit).

    Returns:
        A view of `tensor` whose gradient is multiplied by `attenuation` on the way back.
    """
    factor = torch.as_tensor(attenuation, dtype=tensor.dtype, device=tensor.device)
    return _AttenuateError.apply(tensor, factor)


class ErrorAttenuation(nn.Module):
    """Module form of `attenuate_error`, for placing after a hidden layer's activation.

    Args:
        attenuation: α_i for every unit (a float) or one per unit.
    """

    def __init__(self, attenuation: float | Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("attenuation", torch.as_tensor(attenuation, dtype=torch.float64))

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return attenuate_error(tensor, self.attenuation)

    def extra_repr(self) -> str:
        return f"attenuation={self.attenuation.tolist()}"


class _ShuntedLinearFunction(torch.autograd.Function):
    """Affine map whose weight learns from centred errors and whose bias from the mean error."""

    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
                ) -> torch.Tensor:
        ctx.save_for_backward(input, weight)
        if weight.dim() == 2:
            return functional.linear(input, weight, bias)
        # Replicas stacked on dimension 0: input (R, ..., in), weight (R, out, in), bias (R, out).
        flat = input.reshape(input.shape[0], -1, input.shape[-1])
        output = torch.baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2))
        return output.reshape(*input.shape[:-1], weight.shape[1])

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        input, weight = ctx.saved_tensors
        leading = () if weight.dim() == 2 else (weight.shape[0],)
        # Every dimension but the replica and feature ones indexes a pattern t of the batch T.
        errors = gradient.reshape(*leading, -1, gradient.shape[-1])
        inputs = input.reshape(*leading, -1, input.shape[-1])
        mean_error = errors.mean(dim=-2, keepdim=True)
        input_gradient = None
        if ctx.needs_input_grad[0]:
            input_gradient = torch.matmul(errors, weight).reshape(input.shape)
        weight_gradient = (errors - mean_error).transpose(-1, -2).matmul(inputs)
        return input_gradient, weight_gradient, mean_error.squeeze(-2)


def shunted_linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`input @ weight.T + bias` with error shunting on the backward pass (see module docstring).

    Args:
        input: `(..., in)`; all leading dimensions index patterns. With stacked replicas,
            `(R, ..., in)` and the patterns are the middle dimensions.
        weight: `(out, in)`, or `(R, out, in)` for R independent replicas (e.g. restarts).
        bias: `(out,)`, or `(R, out)`.

    Returns:
        `(..., out)`, the ordinary affine map.
    """
    return _ShuntedLinearFunction.apply(input, weight, bias)


class ShuntedLinear(nn.Linear):
    """`nn.Linear` whose bias takes the mean error and whose weights take the centred error.

    The loss must be summed over the batch. Put its bias in the d.c.-rate parameter group that
    `tempered_parameter_groups` makes for modules whose `error_shunting` attribute is true.
    """

    error_shunting = True

    def __init__(self, in_features: int, out_features: int, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(in_features, out_features, bias=True, device=device, dtype=dtype)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return shunted_linear(input, self.weight, self.bias)


def tempered_parameter_groups(
    named_modules_with_multipliers: Iterable[tuple[str, nn.Module, float]], base_lr: float
) -> list[dict[str, Any]]:
    """Builds torch parameter groups with tempered local rates.

    Args:
        named_modules_with_multipliers: `(name, module, η_j/η)` per node; the module's own
            parameters (recursively) join its groups. A module with a true `error_shunting`
            attribute has its `bias` put in a separate group at the d.c. rate.
        base_lr: The global rate η.

    Returns:
        Group dicts with `params`, `lr`, and the extra keys `name` and `rate_multiplier` (torch
        keeps extra keys, so they are saved in the optimiser's `state_dict`). Weights get
        lr = base_lr × multiplier; a shunted bias gets lr = multiplier (its gradient is already
        the mean error, see the module docstring).
    """
    groups: list[dict[str, Any]] = []
    for name, module, multiplier in named_modules_with_multipliers:
        shunted = bool(getattr(module, "error_shunting", False)) and module.bias is not None
        bias_parameters = [module.bias] if shunted else []
        others = [parameter for parameter in module.parameters()
                  if not any(parameter is bias for bias in bias_parameters)]
        if others:
            groups.append({"params": others, "lr": base_lr * multiplier, "name": name,
                           "rate_multiplier": multiplier})
        if shunted:
            groups.append({"params": bias_parameters, "lr": multiplier, "name": f"{name}.bias",
                           "rate_multiplier": multiplier})
    return groups
