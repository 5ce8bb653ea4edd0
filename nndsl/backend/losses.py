"""Backend stage: the compiled loss: the spec's loss on the network output, plus layer terms.

In: the plan's loss settings, the data's target kind, the network output (and its lengths), the
batch. Out: a scalar loss. Layers that add a loss term (the plan's `loss_terms`: variational
dropout's KL, contributing KL / N with N the training-set size as the paper's bound does, and
the `ica` layer's independence term) add it with its weight (`nndsl.backend.loss_terms`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from nndsl.backend.loss_terms import add_layer_terms
from nndsl.plan import LossTermPlan
from nndsl.spec.training import LossSpec

PROBABILITY_FLOOR = 1e-7


class CompiledLoss(nn.Module):
    """The data term for one target kind, and the loss terms of the network's layers.

    Args:
        loss: the spec's loss section.
        target_kind: what the targets are.
        training_examples: N, the training-set size (per-example terms are divided by it).
        terms: the plan's `loss_terms`; () for none.
    """

    def __init__(self, loss: LossSpec, target_kind: str, training_examples: int,
                 terms: tuple[LossTermPlan, ...] = ()):
        super().__init__()
        self.loss = loss
        self.target_kind = target_kind
        self.training_examples = max(1, training_examples)
        self.terms = tuple(terms)

    def with_layer_terms(self, model: nn.Module, data: torch.Tensor) -> torch.Tensor:
        """`data` plus the layers' weighted loss terms (their values from the latest forward)."""
        return add_layer_terms(model, data, self.terms, self.training_examples)

    def data_term(self, output: torch.Tensor, output_lengths: torch.Tensor | None,
                  batch: dict[str, torch.Tensor]) -> torch.Tensor:
        targets = batch["targets"]
        kind = self.loss.type
        reduction = self.loss.reduction
        if kind in ("cross_entropy", "nll"):
            # [B, C] or [B*T, C] for next-token targets
            logits = output.reshape(-1, output.shape[-1])
            flat_targets = targets.reshape(-1).long()
            if kind == "nll":
                return functional.nll_loss(logits, flat_targets, reduction=reduction)
            return functional.cross_entropy(logits, flat_targets,
                                            label_smoothing=self.loss.label_smoothing,
                                            reduction=reduction)
        if kind == "mse":
            return functional.mse_loss(output, targets.to(output.dtype).reshape(output.shape),
                                       reduction=reduction)
        if kind == "dtw_prediction":
            from nndsl.backend.alignment import dtw_prediction_loss

            return dtw_prediction_loss(output, batch["inputs"], batch["input_lengths"], targets,
                                       batch["target_lengths"], self.loss.states_per_label,
                                       reduction)
        if kind == "binary_cross_entropy":
            return binary_cross_entropy_with_radius(output, targets.to(output.dtype),
                                                    self.loss.zero_error_radius, reduction)
        # CTC over [T, B, C] log-probabilities, lengths after any pooling in the network.
        log_probabilities = functional.log_softmax(output, dim=-1).transpose(0, 1)
        lengths = output_lengths if output_lengths is not None else torch.full(
            (output.shape[0],), output.shape[1], dtype=torch.long)
        return functional.ctc_loss(log_probabilities, targets.long(), lengths.clamp(min=1).cpu(),
                                   batch["target_lengths"].cpu(), blank=self.loss.blank,
                                   zero_infinity=True, reduction=reduction)

    def forward(self, model: nn.Module, output: torch.Tensor, output_lengths: torch.Tensor | None,
                batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, data term)."""
        data = self.data_term(output, output_lengths, batch)
        return self.with_layer_terms(model, data), data


def binary_cross_entropy_with_radius(probabilities: torch.Tensor, targets: torch.Tensor,
                                     radius: float, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logistic outputs with a zero-error radius (tempering paper, Table 1).

    Targets move to 1 - r and r; an output already beyond its moved target has no error (a hard
    cut-off without the shift makes batch training oscillate). The cross-entropy is taken
    relative to its minimum, so the error is exactly zero at the moved target.
    """
    probabilities = probabilities.clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    if radius == 0:
        return functional.binary_cross_entropy(probabilities, targets, reduction=reduction)
    moved = targets * (1 - 2 * radius) + radius
    error = functional.binary_cross_entropy(probabilities, moved, reduction="none") - \
        functional.binary_cross_entropy(moved, moved, reduction="none")
    beyond = (((targets > 0.5) & (probabilities >= moved))
              | ((targets <= 0.5) & (probabilities <= moved)))
    error = torch.where(beyond, torch.zeros_like(error), error)
    return error.sum() if reduction == "sum" else error.mean()
