"""Backend stage: the LightningModule that trains all ensemble members together.

In: the `EnsembleNetwork`, the plan's `EnsemblePlan` (method, k, combine), the spec's loss and the
run's trainable layers and parameter groups. Out: Lightning hooks logging `train/loss`,
`valid/loss`, the combined prediction's `valid/accuracy`, `valid/oracle_accuracy` (an example
counts as right when any member is right — what multiple-choice learning is judged by) and each
member's accuracy; on test, the class → member assignment counts of sMCL's specialisation.

Under DDP every process validates the whole validation split (the data module's evaluation
loaders are not sharded), so early stopping and checkpointing decide on the exact whole-split
values in every process; `sync_dist` still reduces the (equal) values, so no process can drift.

Losses per example and member, [M, B], go through `oracle_loss` (sMCL: only the k best members of
each example receive its gradient) or `independent_loss` (independent and bagging ensembles).
"""

from __future__ import annotations

import torch
from torch.nn import functional

from nndsl.backend.ensemble.losses import (assignment_counts, independent_loss, majority_vote,
                                           mean_probabilities,
                                           oracle_accuracy, oracle_loss, per_member_cross_entropy)
from nndsl.backend.ensemble.network import EnsembleNetwork
from nndsl.backend.lightning_module import RunSettings, TrainingModule
from nndsl.plan import EnsemblePlan
from nndsl.spec.training import LossSpec


def per_member_losses(outputs: torch.Tensor, targets: torch.Tensor, loss: LossSpec) -> torch.Tensor:
    """Each member's loss on each example, [M, B], from outputs [M, B, ...]."""
    if loss.type in ("cross_entropy", "nll"):
        if loss.type == "nll":
            members = outputs.shape[0]
            flat_targets = (targets.expand(members, *targets.shape[-1:]) if targets.dim() == 1
                            else targets)
            return -outputs.gather(-1, flat_targets.long().unsqueeze(-1)).squeeze(-1)
        return per_member_cross_entropy(outputs, targets.long())
    targets = targets.to(outputs.dtype).expand_as(outputs)
    if loss.type == "mse":
        elementwise = (outputs - targets) ** 2
    else:
        elementwise = functional.binary_cross_entropy(outputs.clamp(1e-7, 1 - 1e-7), targets,
                                                      reduction="none")
    return elementwise.reshape(*elementwise.shape[:2], -1).mean(-1)


class EnsembleModule(TrainingModule):
    """One training run of an ensemble (a phase).

    Args:
        network: the ensemble network (trunk and M members).
        plan: the plan's ensemble (method, k, combination, members).
        loss: the spec's loss, computed per member and example.
        settings: the run's settings.
    """

    def __init__(self, network: EnsembleNetwork, plan: EnsemblePlan, loss: LossSpec,
                 settings: RunSettings):
        super().__init__(network, settings)
        self.plan = plan
        self.loss = loss
        self.num_classes = settings.num_classes
        self.classifies = settings.target_kind == "class" and settings.num_classes is not None
        self.test_assignments: torch.Tensor | None = None

    def _loss(self, outputs: torch.Tensor,
              targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        losses = per_member_losses(outputs, targets, self.loss)  # [M, B]
        if self.plan.method == "smcl":
            return oracle_loss(losses, k=self.plan.k)
        return independent_loss(losses), losses.detach().argmin(0)

    def training_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        bagged = self.plan.method == "bagging"
        outputs = self.network(batch["inputs"], per_member=bagged)
        loss, _ = self._loss(outputs, batch["targets"])
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=outputs.shape[1], sync_dist=True)
        return loss

    def evaluate(self, batch: dict[str, torch.Tensor], split: str) -> None:
        outputs = self.network(batch["inputs"])  # [M, B, ...]
        targets = batch["targets"]
        loss, assignment = self._loss(outputs, targets)
        size = outputs.shape[1]
        self.log(f"{split}/loss", loss, on_epoch=True, prog_bar=True, batch_size=size,
                 sync_dist=True)
        if not self.classifies:
            return
        combined = (majority_vote(outputs) if self.plan.combine == "vote"
                    else mean_probabilities(outputs).argmax(-1))
        self.log(f"{split}/accuracy", (combined == targets).float().mean(), on_epoch=True,
                 prog_bar=True, batch_size=size, sync_dist=True)
        self.log(f"{split}/oracle_accuracy", oracle_accuracy(outputs, targets), on_epoch=True,
                 prog_bar=True, batch_size=size, sync_dist=True)
        for member in range(outputs.shape[0]):
            accuracy = (outputs[member].argmax(-1) == targets).float().mean()
            self.log(f"{split}/member{member + 1}_accuracy", accuracy, on_epoch=True,
                     batch_size=size, sync_dist=True)
        if split == "test":
            counts = assignment_counts(assignment, targets, self.plan.members, self.num_classes)
            self.test_assignments = (counts if self.test_assignments is None
                                     else self.test_assignments + counts)
