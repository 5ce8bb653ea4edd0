"""Whitened linear layers of natural neural networks (PRONG) (backend stage).

Backend stage, from Desjardins, Simonyan, Pascanu & Kavukcuoglu, "Natural Neural Networks" (NIPS
2015). In: activations `(..., in_features)`; out: `(..., out_features)`, computed as

    h = f(V U (x − c) + d)                                                       (paper eq. 6)

where V, d are the trained parameters and the whitening matrix U and centre c are buffers estimated
from the layer's input statistics, not learned. With U = diag(λ + ε)^(−1/2) Ũᵀ from the centred
covariance Σ = Ũ diag(λ) Ũᵀ (eq. 7) the input to V is white, the layer's block of the Fisher matrix
is ≈ I, and plain SGD on V, d approximates natural-gradient descent. ε caps the learning-rate
multiplier along low-variance directions (a trust region).

The canonical layer is W = V U, b = d − W c. Changing U and c while setting V = W U⁻¹ and
d = b + W c leaves that function exactly unchanged (Algorithm 1's projections P⁻¹ then P); the
`Rewhitening` callback does this every T updates for all layers at once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as functional
from torch import Tensor, nn


def estimate_whitening(samples: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    """Estimates the centre c = μ and PCA-whitening matrix U = diag(λ + ε)^(−1/2) Ũᵀ of samples.

    The paper writes Σ = E[h hᵀ], but the layer subtracts c = μ before applying U, so the covariance
    that U must whiten is the centred one. Computed in float64 because small eigenvalues carry the
    directions that matter most for conditioning.

    Args:
        samples: `(..., features)`; all leading dimensions are treated as samples.
        epsilon: Regulariser ε added to every eigenvalue.

    Returns:
        The mean `(features,)` and the whitening matrix `(features, features)`, in the dtype of
        `samples`.
    """
    rows = samples.reshape(-1, samples.shape[-1]).to(torch.float64)  # (n, features)
    mean = rows.mean(dim=0)  # (features,)
    centred = rows - mean  # (n, features)
    covariance = centred.T @ centred / rows.shape[0]  # (features, features)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # (features,), columns Ũ
    # Round-off can leave eigenvalues of a rank-deficient covariance slightly negative.
    eigenvalues = eigenvalues.clamp(min=0.0)
    whitening = (eigenvalues + epsilon).rsqrt()[:, None] * eigenvectors.T  # (features, features)
    return mean.to(samples.dtype), whitening.to(samples.dtype)


class WhitenedLinear(nn.Module):
    """A linear layer on PCA-whitened inputs, h = f(V U (x − c) + d), with U, c as buffers.

    Attributes the rest of the backend uses: `weight` (V) and `bias` (d) are the parameters the
    optimiser sees; `whitening` (U) and `mean` (c) are buffers, so they are saved in checkpoints.

    Args:
        in_features: Size of the last input dimension.
        out_features: Size of the last output dimension.
        activation: The nonlinearity f as a module, or None for the identity.
        epsilon: Eigenvalue regulariser ε used when this layer is re-whitened.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: nn.Module | None = None,
        epsilon: float = 1e-2,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.epsilon = in_features, out_features, epsilon
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # V
        self.bias = nn.Parameter(torch.empty(out_features))  # d
        self.register_buffer("whitening", torch.eye(in_features))  # U, starts at I
        self.register_buffer("mean", torch.zeros(in_features))  # c, starts at 0
        self.activation = activation if activation is not None else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialises V, d as `torch.nn.Linear` does; resets U = I, c = 0 (Algorithm 1, line 3)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        nn.init.uniform_(self.bias, -bound, bound)
        with torch.no_grad():
            self.whitening.copy_(torch.eye(self.in_features))
            self.mean.zero_()

    def whiten(self, inputs: Tensor) -> Tensor:
        """Returns U (x − c), the input as V sees it; `(..., in_features)` in and out."""
        return functional.linear(inputs - self.mean, self.whitening)  # (..., in)

    def forward(self, inputs: Tensor) -> Tensor:
        """Computes f(V U (x − c) + d).

        Args:
            inputs: `(..., in_features)`.

        Returns:
            `(..., out_features)`.
        """
        return self.activation(functional.linear(self.whiten(inputs), self.weight, self.bias))

    def canonical_parameters(self) -> tuple[Tensor, Tensor]:
        """The canonical W = V U and b = d − W c (projection P⁻¹), in float64 and detached.

        Returns:
            W `(out_features, in_features)` and b `(out_features,)`.
        """
        with torch.no_grad():
            canonical_weight = self.weight.double() @ self.whitening.double()  # (out, in)
            canonical_bias = self.bias.double() - canonical_weight @ self.mean.double()  # (out,)
        return canonical_weight, canonical_bias

    def set_whitening(self, new_mean: Tensor, new_whitening: Tensor) -> None:
        """Replaces c and U only. This changes the function until `load_canonical_parameters`.

        Args:
            new_mean: `(in_features,)`.
            new_whitening: `(in_features, in_features)`, invertible.
        """
        with torch.no_grad():
            self.mean.copy_(new_mean)
            self.whitening.copy_(new_whitening)

    def load_canonical_parameters(self, canonical_weight: Tensor, canonical_bias: Tensor) -> None:
        """Sets V = W U⁻¹ and d = b + W c for the current U, c (projection P), in place.

        The parameters keep their identity, so optimisers and hooks that hold them stay attached.

        Args:
            canonical_weight: W `(out_features, in_features)`.
            canonical_bias: b `(out_features,)`.
        """
        with torch.no_grad():
            whitening = self.whitening.double()
            # Solve V U = W rather than forming U⁻¹: better conditioned when ε is small.
            weight = torch.linalg.solve(whitening, canonical_weight.double(), left=False)
            bias = canonical_bias.double() + canonical_weight.double() @ self.mean.double()
            self.weight.copy_(weight)
            self.bias.copy_(bias)

    def reparametrise(self, new_mean: Tensor, new_whitening: Tensor) -> None:
        """Changes c and U while updating V and d so that the layer's function is unchanged.

        Args:
            new_mean: The new centre c, `(in_features,)`.
            new_whitening: The new whitening matrix U, `(in_features, in_features)`, invertible.
        """
        canonical_weight, canonical_bias = self.canonical_parameters()  # with the OLD U, c
        self.set_whitening(new_mean, new_whitening)
        self.load_canonical_parameters(canonical_weight, canonical_bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"epsilon={self.epsilon}"
        )
