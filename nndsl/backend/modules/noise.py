"""Fixed-rate Gaussian dropout and multiplicative-noise primitives (backend stage).

Backend stage: the builder places a `GaussianDropout(p)` where a spec asks for Gaussian (continuous)
dropout. In: activations of any shape; out: the same shape, multiplied element-wise by noise
ξ ~ N(1, α) with α = p / (1 − p) during training, untouched in evaluation.

Gaussian noise with the mean and variance of binary dropout's rescaled mask works as well as binary
dropout or better (Srivastava et al. 2014, cited in Kingma, Salimans & Welling 2015, §3), and it is
the fixed-rate special case of variational dropout (`variational_dropout.py`), which reuses
`multiplicative_gaussian_noise` and `bound_from_above` (the constraint on a learned α) from here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def dropout_rate_to_alpha(rate: float) -> float:
    """Converts a dropout probability p into the Gaussian noise variance α = p / (1 − p).

    Binary dropout with keep probability 1 − p, rescaled by 1 / (1 − p), has mean 1 and variance
    p / (1 − p); Gaussian noise with that variance matches its first two moments (p = 0.5 → α = 1,
    p = 0.2 → α = 0.25).

    Args:
        rate: The dropout probability p, in [0, 1).

    Returns:
        The variance α of the multiplicative noise.
    """
    return rate / (1.0 - rate)


def multiplicative_gaussian_noise(inputs: Tensor, alpha: Tensor | float) -> Tensor:
    """Multiplies every element by independent noise ξ ~ N(1, α).

    Written as ξ = 1 + √α·ε with ε ~ N(0, 1) so that gradients reach α when it is learned (the
    reparameterisation trick).

    Args:
        inputs: Activations of any shape.
        alpha: The noise variance, a float or a tensor that broadcasts against `inputs`.

    Returns:
        A tensor of the shape of `inputs`.
    """
    standard_noise = torch.randn_like(inputs)  # (*inputs.shape) ε ~ N(0, 1)
    if isinstance(alpha, Tensor):
        scale = alpha.sqrt()
    else:
        scale = alpha**0.5
    return inputs * (1.0 + scale * standard_noise)  # (*inputs.shape)


class _BoundFromAbove(torch.autograd.Function):
    """min(value, bound) whose gradient still flows where it would move the value back down."""

    @staticmethod
    def forward(context, value: Tensor, bound: float) -> Tensor:  # type: ignore[override]
        context.save_for_backward(value)
        context.bound = bound
        return value.clamp(max=bound)

    @staticmethod
    def backward(context, gradient: Tensor):  # type: ignore[override]
        (value,) = context.saved_tensors
        # Gradient descent moves the value by −gradient: a positive gradient lowers it.
        passes = (value <= context.bound) | (gradient > 0)
        return gradient * passes, None


def bound_from_above(value: Tensor, bound: float) -> Tensor:
    """Clamps a learned noise parameter (log α) at `bound` without ever freezing it there.

    A plain clamp gives zero gradient above the bound, so a value that an optimiser step (or Adam's
    momentum) pushed past the bound would stay at the bound for good. Here gradients that would
    raise an out-of-bound value are blocked and gradients that would lower it pass, so the value
    comes back as soon as the loss asks for less noise.

    Args:
        value: Any tensor.
        bound: The upper bound.

    Returns:
        `min(value, bound)`, element-wise.
    """
    return _BoundFromAbove.apply(value, bound)


class GaussianDropout(nn.Module):
    """Multiplicative Gaussian noise N(1, α) with a fixed rate, the identity in evaluation mode.

    Unlike binary dropout no rescaling is needed at test time: the noise already has mean 1, so the
    expected activation in training equals the activation in evaluation.

    Args:
        p: The equivalent binary dropout probability, in [0, 1); α = p / (1 − p).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p
        self.alpha = dropout_rate_to_alpha(p)

    def forward(self, inputs: Tensor) -> Tensor:
        """Applies the noise in training mode and returns `inputs` unchanged otherwise.

        Args:
            inputs: Activations of any shape.

        Returns:
            A tensor of the shape of `inputs`.
        """
        if not self.training or self.alpha == 0.0:
            return inputs
        return multiplicative_gaussian_noise(inputs, self.alpha)

    def extra_repr(self) -> str:
        return f"p={self.p}, alpha={self.alpha:.4g}"
