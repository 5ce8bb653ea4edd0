"""Backend stage: the `ica` layer's module, u = W x with the natural-gradient infomax update.

In: the channel count, the number of frequency bins (complex mode) or None (real mode), γ and
whether the independence term is on. Out: a module whose forward unmixes and whose gradient for
W, with its declared loss term `independence` added at weight 1, is the descent direction of
Bae & Lee's eq. (3) (ica-top-down-attention):

    grad W = γ · g xᴴ - [I - mean φ(u) uᴴ] W,    g = ∂E/∂u (so -g is the attention error Δu).

The backward pass of the unmixing gives the first part (and x the ordinary gradient Wᴴ g, so
layers below it, if any, learn as usual). The second part is the natural-gradient infomax
direction, which is the gradient of no loss: `loss_terms()` returns a term that is zero in value
and whose gradient with respect to W is minus that direction, taken at the latest training
forward pass (`nndsl.backend.loss_terms` adds it with the spec's weight). A descent step
W -= η · grad W is then W += η ([I - φ(u)uᴴ]W + γ Δu xᴴ). Complex values are computed with
torch's complex dtype; W is stored as real pairs so every optimiser and the state dict take it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def score(values: torch.Tensor) -> torch.Tensor:
    """φ: tanh for real values, tanh(Re z) + j·tanh(Im z) for complex ones (eq. 4)."""
    if values.is_complex():
        return torch.complex(torch.tanh(values.real), torch.tanh(values.imag))
    return torch.tanh(values)


def infomax_direction(unmixing: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """[I - mean_n φ(u_n) u_nᴴ] W per bin: unmixing [bins, C, C], outputs [N, bins, C]."""
    channels = unmixing.shape[-1]
    identity = torch.eye(channels, dtype=unmixing.dtype, device=unmixing.device)
    correlation = torch.einsum("nfi,nfj->fij", score(outputs), outputs.conj()) / outputs.shape[0]
    return (identity - correlation) @ unmixing


class _Unmix(torch.autograd.Function):
    """u = W x per bin, with γ times the error's gradient for W (eq. 3's attention part)."""

    @staticmethod
    def forward(context: Any, inputs: torch.Tensor, unmixing: torch.Tensor,
                gamma: float) -> torch.Tensor:
        outputs = torch.einsum("fij,nfj->nfi", unmixing, inputs)
        context.save_for_backward(inputs, unmixing)
        context.gamma = gamma
        return outputs

    @staticmethod
    def backward(context: Any, output_gradient: torch.Tensor):
        inputs, unmixing = context.saved_tensors
        input_gradient = torch.einsum("fij,nfi->nfj", unmixing.conj(), output_gradient)
        weight_gradient = context.gamma * torch.einsum("nfi,nfj->fij", output_gradient,
                                                       inputs.conj())
        return input_gradient, weight_gradient, None


class IcaModule(nn.Module):
    """Real mode: [B, ..., C] → [B, ..., C]; complex: [B, ..., bins, C, 2], shape unchanged."""

    def __init__(self, channels: int, bins: int | None, gamma: float, independence: bool):
        super().__init__()
        self.channels, self.bins = channels, bins
        self.gamma, self.independence = gamma, independence
        shape = (bins, channels, channels, 2) if bins is not None else (1, channels, channels)
        self.weight = nn.Parameter(torch.empty(shape))
        self.reset_parameters()
        # [I - mean φ(u)uᴴ]W of the latest training forward pass, as W is stored (real pairs in
        # complex mode); None when there is nothing to add (evaluation, W frozen, term off).
        self.direction: torch.Tensor | None = None

    def reset_parameters(self) -> None:
        """W = I (in every bin)."""
        with torch.no_grad():
            self.weight.zero_()
            diagonal = torch.arange(self.channels)
            if self.bins is None:
                self.weight[:, diagonal, diagonal] = 1.0
            else:
                self.weight[:, diagonal, diagonal, 0] = 1.0

    def unmixing(self) -> torch.Tensor:
        """W as [bins, C, C] (complex in complex mode; one bin in real mode)."""
        return torch.view_as_complex(self.weight) if self.bins is not None else self.weight

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.bins is None:
            flat = inputs.reshape(-1, 1, self.channels)
            outputs = _Unmix.apply(flat, self.weight, self.gamma)
            self._keep_direction(self.weight, outputs)
            return outputs.reshape(inputs.shape)
        spectra = torch.view_as_complex(inputs.contiguous())  # [B, ..., bins, C]
        unmixing = torch.view_as_complex(self.weight)
        flat = spectra.reshape(-1, self.bins, self.channels)  # frames of every example
        outputs = _Unmix.apply(flat, unmixing, self.gamma)
        self._keep_direction(unmixing, outputs)
        return torch.view_as_real(outputs.reshape(spectra.shape))

    def _keep_direction(self, unmixing: torch.Tensor, outputs: torch.Tensor) -> None:
        self.direction = None
        if self.independence and self.training and self.weight.requires_grad:
            with torch.no_grad():
                direction = infomax_direction(unmixing.detach(), outputs.detach())
            self.direction = torch.view_as_real(direction) if self.bins is not None else direction

    def loss_terms(self) -> dict[str, torch.Tensor]:
        """`independence`: zero, with gradient -[I - mean φ(u)uᴴ]W for W (see the module)."""
        if self.direction is None:
            return {"independence": self.weight.new_zeros(())}
        surrogate = (-self.direction * self.weight).sum()
        return {"independence": surrogate - surrogate.detach()}
