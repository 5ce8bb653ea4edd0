"""Variational dropout with learned rates and the local reparameterisation trick (backend stage).

Backend stage, from Kingma, Salimans & Welling (NIPS 2015). In: activations `(..., features)`;
out: `VariationalDropoutLinear` gives `(..., out_features)`, `VariationalDropout` the input shape.
Each module's `kl_divergence()` is its scalar KL to the log-uniform prior; the compiled loss is
mean NLL + total_kl(model) / N (N training examples), the paper's bound divided by N.

Type B (§3.1, independent weight noise): q(w_ij) = N(θ_ij, α θ_ij²). Sampling the pre-activation
from its Gaussian marginal, b = γ + √δ ∘ ζ with γ = Aθ, δ = α (A∘A)(θ∘θ), ζ ~ N(0, 1) per datapoint
and unit, gives gradients whose variance falls as 1/M and costs two matrix products.
Type A (§3.2, correlated noise): ξ ~ N(1, α) on each datapoint's inputs, B = (A∘ξ)θ, i.e. a
posterior N(1, α) on the scale s_i of every weight row; θ and biases are point estimates.

The KL uses the paper's fit −KL ≈ const + 0.5 log α + c1 α + c2 α² + c3 α³ (valid for α ≤ 1). The
fit f(α) = 0.5 log α + c1 α + c2 α² + c3 α³ increases strictly for all α > 0, so choosing
const = −f(α_ref) with α_ref = max(1, max_alpha) makes KL(α) = f(α_ref) − f(α) ≥ 0 for every
reachable α, and zero at α = 1 (dropout rate 0.5) for the paper's default bound. The prior is
improper, so the constant is arbitrary and does not change any gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as functional
from torch import Tensor, nn

from nndsl.backend.modules.noise import (
    bound_from_above,
    dropout_rate_to_alpha,
    multiplicative_gaussian_noise,
)

KL_C1 = 1.16145124
KL_C2 = -1.50204118  # negative in the paper's fit; the extracted text drops the sign
KL_C3 = 0.58629921
# Keeps √δ differentiable where an input row is all zeros (δ = 0 would give an infinite gradient).
_VARIANCE_FLOOR = 1e-8


def negative_kl_fit(log_alpha: Tensor) -> Tensor:
    """The paper's polynomial f(α) = 0.5 log α + c1 α + c2 α² + c3 α³, element-wise."""
    alpha = log_alpha.exp()
    return 0.5 * log_alpha + alpha * (KL_C1 + alpha * (KL_C2 + alpha * KL_C3))


def log_uniform_kl(log_alpha: Tensor, reference_alpha: float = 1.0) -> Tensor:
    """KL(q || log-uniform prior) per posterior variable: f(α_ref) − f(α), ≥ 0 for α ≤ α_ref.

    Args:
        log_alpha: Log noise variances, any shape.
        reference_alpha: The largest reachable α, where the KL is zero.

    Returns:
        A tensor of the shape of `log_alpha`.
    """
    a = reference_alpha
    reference = 0.5 * math.log(a) + a * (KL_C1 + a * (KL_C2 + a * KL_C3))  # f(α_ref)
    return reference - negative_kl_fit(log_alpha)


class _LearnedRate(nn.Module):
    """The learned log α shared by both modules: initial value, bound, α and the KL per variable."""

    def _init_rate(self, shape: tuple[int, ...], initial_rate: float, max_alpha: float) -> None:
        self.initial_rate = initial_rate
        self.max_alpha = max_alpha
        self.log_alpha = nn.Parameter(torch.empty(shape))
        self.reset_log_alpha()

    def reset_log_alpha(self) -> None:
        """Sets log α back to log(p / (1 − p)) for the initial dropout rate p."""
        with torch.no_grad():
            self.log_alpha.fill_(math.log(dropout_rate_to_alpha(self.initial_rate)))

    def bounded_log_alpha(self) -> Tensor:
        """log α clamped at log(max_alpha); the paper constrains α ≤ 1 to avoid poor optima."""
        return bound_from_above(self.log_alpha, math.log(self.max_alpha))

    def alpha(self) -> Tensor:
        """The noise variances α actually used, of the shape of `log_alpha`."""
        return self.bounded_log_alpha().exp()

    def kl_divergence(self) -> Tensor:
        raise NotImplementedError

    def loss_terms(self) -> dict[str, Tensor]:
        """The layer's declared loss term (`nndsl.backend.loss_terms`): its KL, the same value
        whatever the forward pass."""
        return {"kl": self.kl_divergence()}

    def _kl_over(self, posterior_shape: tuple[int, ...]) -> Tensor:
        # One KL term per posterior variable; a shared α counts once for every variable it governs.
        per_alpha = log_uniform_kl(self.bounded_log_alpha(), max(1.0, self.max_alpha))
        return per_alpha.expand(posterior_shape).sum()


class VariationalDropoutLinear(_LearnedRate):
    """A linear layer with variational dropout (type B: weight noise, type A: input noise).

    Args:
        in_features: Size of the last input dimension.
        out_features: Size of the last output dimension.
        bias: Whether to add a learned bias (a point estimate, no noise).
        variant: "B" (independent weight noise, local reparameterisation) or "A" (correlated).
        rate_granularity: One α per "weight", per "neuron" or per "layer". For type B a neuron is
            an output unit; for type A it is an input unit, and "weight" does not exist because
            the posterior is on one scale per input row.
        initial_rate: The initial dropout probability p; α starts at p / (1 − p).
        max_alpha: Upper bound on α (1.0 in the paper, i.e. a dropout rate of at most 0.5).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        variant: str = "B",
        rate_granularity: str = "weight",
        initial_rate: float = 0.5,
        max_alpha: float = 1.0,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.variant, self.rate_granularity = variant, rate_granularity
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        # Shapes broadcast against the weight (out, in) for type B, against the input for type A.
        shapes = {("B", "weight"): (out_features, in_features), ("B", "neuron"): (out_features, 1),
                  ("B", "layer"): (1, 1), ("A", "neuron"): (in_features,), ("A", "layer"): (1,)}
        if (variant, rate_granularity) not in shapes:
            message = f"variational dropout has no type {variant!r} with {rate_granularity!r} rates"
            raise ValueError(message + "; the check stage should have rejected it")
        self._posterior_shape = (out_features, in_features) if variant == "B" else (in_features,)
        self._init_rate(shapes[(variant, rate_granularity)], initial_rate, max_alpha)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialises θ and the bias as `torch.nn.Linear` does and log α at the initial rate."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)
        self.reset_log_alpha()

    def forward(self, inputs: Tensor) -> Tensor:
        """Samples pre-activations in training mode; returns their mean γ = Aθ + bias in evaluation.

        Args:
            inputs: `(..., in_features)`.

        Returns:
            `(..., out_features)`.
        """
        if not self.training:
            return functional.linear(inputs, self.weight, self.bias)
        alpha = self.alpha()
        if self.variant == "A":
            noisy_inputs = multiplicative_gaussian_noise(inputs, alpha)  # (..., in) A∘ξ
            return functional.linear(noisy_inputs, self.weight, self.bias)
        mean = functional.linear(inputs, self.weight, self.bias)  # (..., out) γ
        variance = functional.linear(inputs * inputs, alpha * self.weight**2)  # (..., out) δ
        standard_noise = torch.randn_like(mean)  # (..., out) ζ
        return mean + (variance + _VARIANCE_FLOOR).sqrt() * standard_noise  # (..., out)

    def kl_divergence(self) -> Tensor:
        """KL to the log-uniform prior summed over all weights (type B) or row scales (type A)."""
        return self._kl_over(self._posterior_shape)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"variant={self.variant}, rate_granularity={self.rate_granularity}"
        )


class VariationalDropout(_LearnedRate):
    """Learned multiplicative noise N(1, α) on activations: type A without the linear layer.

    Placed after any layer, it is the type-A posterior on the row scales of whatever linear map
    follows, so its KL counts one term per feature.

    Args:
        features: Size of the feature dimension.
        initial_rate: The initial dropout probability p; α starts at p / (1 − p).
        granularity: One α per "neuron" (feature) or one per "layer".
        max_alpha: Upper bound on α (1.0 in the paper).
        feature_dimension: Which input dimension holds the features (-1; 1 for convolution maps).
    """

    def __init__(
        self,
        features: int,
        initial_rate: float = 0.5,
        granularity: str = "neuron",
        max_alpha: float = 1.0,
        feature_dimension: int = -1,
    ) -> None:
        super().__init__()
        if granularity not in ("neuron", "layer"):
            message = f"activation variational dropout has no granularity {granularity!r}"
            raise ValueError(message + "; the check stage should have rejected it")
        self.features, self.granularity = features, granularity
        self.feature_dimension = feature_dimension
        self._init_rate((features,) if granularity == "neuron" else (1,), initial_rate, max_alpha)

    def forward(self, inputs: Tensor) -> Tensor:
        """Multiplies by learned noise in training mode; the identity in evaluation (E[ξ] = 1).

        Args:
            inputs: Any shape whose `feature_dimension` has size `features`.

        Returns:
            A tensor of the shape of `inputs`.
        """
        if not self.training:
            return inputs
        alpha = self.alpha()  # (features,) or (1,)
        trailing = inputs.dim() - 1 - (self.feature_dimension % inputs.dim())
        alpha = alpha.reshape(alpha.shape + (1,) * trailing)  # broadcasts on the feature dimension
        return multiplicative_gaussian_noise(inputs, alpha)

    def kl_divergence(self) -> Tensor:
        """KL to the log-uniform prior summed over the features' scale variables."""
        return self._kl_over((self.features,))


def total_kl(module: nn.Module) -> Tensor:
    """Sums `kl_divergence()` over `module` and every submodule that defines one.

    A module that defines `kl_divergence()` is taken to account for its own submodules, so a wrapper
    that delegates to a child is not counted twice.

    Args:
        module: Usually the whole model.

    Returns:
        A scalar tensor (zero when no module has a KL term).
    """
    terms: list[Tensor] = []
    visited: set[int] = set()

    def visit(current: nn.Module) -> None:
        if id(current) in visited:  # a shared module counts once
            return
        visited.add(id(current))
        kl_divergence = getattr(current, "kl_divergence", None)
        if callable(kl_divergence):
            terms.append(kl_divergence())
            return
        for child in current.children():
            visit(child)

    visit(module)
    if not terms:
        parameter = next(module.parameters(), None)
        return torch.zeros((), device=None if parameter is None else parameter.device)
    return torch.stack(terms).sum()
