"""Backend stage: the LightningModule that trains one run of a phase.

In: the graph module (shared across phases, so weights carry over), the run's trainable layers
and parameter groups, the compiled loss and the metric names. Out: Lightning hooks that log
`train/loss`, `valid/loss`, `valid/<metric>` (and `test/...`) and an optimiser over exactly the
trainable layers. Frozen layers have `requires_grad` off and stay out of the optimiser.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningModule

from nndsl.backend.graph_module import GraphModule
from nndsl.backend.losses import CompiledLoss
from nndsl.backend.metrics import UNLOGGED, build_metrics, update_metrics
from nndsl.backend.optimizers import build_optimizer, build_scheduler, parameter_groups
from nndsl.plan import ParameterGroup



def stop_unless_finite(module: LightningModule, loss: torch.Tensor) -> None:
    """Raise FloatingPointError (the run stage reports it, exit 2) when the training loss is not
    finite on any process. Every rank takes the decision together, so under ddp a NaN on one
    rank stops all of them instead of leaving the others waiting in the next all-reduce."""
    here = bool(torch.isfinite(loss).all())
    everywhere = here
    trainer = module._trainer  # None when the module is stepped outside a Trainer (tests)
    if trainer is not None:
        everywhere = trainer.strategy.reduce_boolean_decision(here, all=True)
    if not everywhere:
        value = loss.item() if not here else "non-finite on another process"
        raise FloatingPointError(f"the training loss became {value} at epoch {module.current_epoch}, "
                                 f"step {module.global_step}")

class NndslModule(LightningModule):
    """One training run: a phase, or one attempt of a top-down search."""

    def __init__(self, network: GraphModule, loss: CompiledLoss, trainable: tuple[str, ...],
                 groups: tuple[ParameterGroup, ...], optimizer: Any, scheduler: Any, max_epochs: int,
                 metric_names: tuple[str, ...], target_kind: str, num_classes: int | None,
                 space_label: int | None = None, decoding: dict | None = None):
        super().__init__()
        self.network = network
        self.compiled_loss = loss
        self.trainable = set(trainable)
        self.groups = groups
        self.optimizer_settings = optimizer
        self.scheduler_settings = scheduler
        self.max_epochs = max_epochs
        self.blank = loss.loss.blank
        self.space_label = space_label
        self.metrics = torch.nn.ModuleDict({
            split: build_metrics(
                tuple(name for name in metric_names if split == "test" or name not in UNLOGGED),
                target_kind, num_classes, self.blank, space_label, decoding)
            for split in ("valid", "test")})
        self.freeze_layers()
        self.on_train_epoch_start()

    def freeze_layers(self) -> None:
        """`requires_grad` on exactly the trainable layers (frozen layers keep their values)."""
        for name in self.network.order:
            for _, parameter in self.network.layer_parameters(name):
                parameter.requires_grad_(name in self.trainable)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None):
        return self.network(inputs, lengths)

    def _step(self, batch: dict[str, torch.Tensor], split: str) -> torch.Tensor:
        output, lengths = self.network(batch["inputs"], batch.get("input_lengths"))
        loss, _ = self.compiled_loss(self.network, output, lengths, batch)
        batch_size = batch["inputs"].shape[0]
        if split == "train":
            # Summed here and logged once at the epoch's end (`on_train_epoch_end`): the same
            # example-weighted mean Lightning would log, without its per-call bookkeeping, which
            # cost as much as the forward pass of a small network every step.
            self.train_loss_sum = self.train_loss_sum + loss.detach() * batch_size
            self.train_examples += batch_size
            return loss
        self.log(f"{split}/loss", loss, on_step=False, on_epoch=True, prog_bar=split != "test",
                 batch_size=batch_size, sync_dist=True)
        if split in self.metrics:
            metrics = self.metrics[split]
            update_metrics(metrics, output, lengths, batch, self.blank, self.space_label)
            for name, metric in metrics.items():
                if name in UNLOGGED:
                    continue
                self.log(f"{split}/{name}", metric, on_step=False, on_epoch=True, prog_bar=True,
                         batch_size=batch_size)
        return loss

    def on_train_epoch_start(self) -> None:
        self.train_loss_sum: torch.Tensor | float = 0.0
        self.train_examples = 0  # (a run resumed in mid-epoch starts from __init__'s zeros)

    def training_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss = self._step(batch, "train")
        stop_unless_finite(self, loss)
        return loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint inside an epoch (Ctrl-C) carries the epoch's running sum, so the resumed
        # run logs the train/loss the uninterrupted one would (the same additions, in order).
        checkpoint["train_loss_sum"] = {"sum": self.train_loss_sum, "examples": self.train_examples}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("train_loss_sum")
        if saved is not None:
            self.train_loss_sum, self.train_examples = saved["sum"], saved["examples"]

    def on_train_epoch_end(self) -> None:
        """`train/loss`: the epoch's mean training loss per example (then averaged over
        processes), logged before early stopping and checkpointing read it."""
        if self.train_examples:
            self.log("train/loss", self.train_loss_sum / self.train_examples, on_step=False,
                     on_epoch=True, prog_bar=True, sync_dist=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> None:
        self._step(batch, "valid")

    def test_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.optimizer_settings, parameter_groups(self.network, self.groups, self.trainable))
        scheduler = build_scheduler(self.scheduler_settings, optimizer, self.max_epochs,
                                    lambda: int(self.trainer.estimated_stepping_batches))
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}
