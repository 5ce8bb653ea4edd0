"""Test oracle: the two layer loss terms as they were computed before they were declared terms.

- The `ica` layer's independence term lived inside its backward pass: W's gradient was
  γ · g xᴴ - [I - mean φ(u)uᴴ]W in one autograd function (`ReferenceUnmix`).
- Variational dropout's KL was added by the loss as `data + total_kl(model) / N`
  (`reference_kl_loss`).

`tests/backend/test_loss_terms.py` checks that the declared-term API gives the same losses,
gradients and weights, bit for bit, at weight 1.
"""

from __future__ import annotations

from typing import Any

import torch

from nndsl.backend.modules.independent_components import infomax_direction
from nndsl.backend.modules.variational_dropout import total_kl


class ReferenceUnmix(torch.autograd.Function):
    """u = W x per bin, with eq. (3)'s whole direction as W's gradient."""

    @staticmethod
    def forward(context: Any, inputs: torch.Tensor, unmixing: torch.Tensor, gamma: float,
                independence: bool) -> torch.Tensor:
        outputs = torch.einsum("fij,nfj->nfi", unmixing, inputs)
        context.save_for_backward(inputs, unmixing, outputs)
        context.gamma, context.independence = gamma, independence
        return outputs

    @staticmethod
    def backward(context: Any, output_gradient: torch.Tensor):
        inputs, unmixing, outputs = context.saved_tensors
        input_gradient = torch.einsum("fij,nfi->nfj", unmixing.conj(), output_gradient)
        weight_gradient = context.gamma * torch.einsum("nfi,nfj->fij", output_gradient,
                                                       inputs.conj())
        if context.independence:
            weight_gradient = weight_gradient - infomax_direction(unmixing, outputs)
        return input_gradient, weight_gradient, None, None


def reference_unmix(layer: Any, inputs: torch.Tensor) -> torch.Tensor:
    """What `IcaModule.forward` computed before (same shapes, the old autograd function)."""
    if layer.bins is None:
        flat = inputs.reshape(-1, 1, layer.channels)
        outputs = ReferenceUnmix.apply(flat, layer.weight, layer.gamma, layer.independence)
        return outputs.reshape(inputs.shape)
    spectra = torch.view_as_complex(inputs.contiguous())
    unmixing = torch.view_as_complex(layer.weight)
    flat = spectra.reshape(-1, layer.bins, layer.channels)
    outputs = ReferenceUnmix.apply(flat, unmixing, layer.gamma, layer.independence)
    return torch.view_as_real(outputs.reshape(spectra.shape))


def reference_kl_loss(model: torch.nn.Module, data: torch.Tensor,
                      training_examples: int) -> torch.Tensor:
    """The loss with the KL as it was added before: data + total_kl(model) / N."""
    return data + total_kl(model) / max(1, training_examples)
