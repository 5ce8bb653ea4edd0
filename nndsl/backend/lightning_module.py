"""Backend stage: the LightningModules that train one run of a phase.

In: the network (shared across phases, so weights carry over) and a `RunSettings` record: the
run's trainable layers and parameter groups, optimiser, scheduler, epochs and target. Out:
`TrainingModule`, the base holding what every run does the same way: freezing (frozen layers
have `requires_grad` off and stay out of the optimiser), the optimiser and scheduler,
stopping on a non-finite loss, and validation and test steps that call the subclass's
`evaluate`. `NndslModule` trains one graph module with the compiled loss and logs `train/loss`,
`valid/loss`, `valid/<metric>` (and `test/...`); the ensemble's subclass is
`nndsl.backend.ensemble.module.EnsembleModule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from lightning.pytorch import LightningModule

from nndsl.backend.graph_module import GraphModule
from nndsl.backend.losses import CompiledLoss
from nndsl.backend.metrics import UNLOGGED, build_metrics, update_metrics
from nndsl.backend.optimizers import (build_optimizer, build_scheduler, parameter_groups,
                                      stepping_batches)
from nndsl.plan import ParameterGroup
from nndsl.spec.training import OptimizerSpec, SchedulerSpec


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
        raise FloatingPointError(f"the training loss became {value} at epoch "
                                 f"{module.current_epoch}, step {module.global_step}")


@dataclass(frozen=True)
class RunSettings:
    """How one run trains, whatever the network.

    Attributes:
        trainable: names of the layers that learn; all others are frozen.
        groups: the plan's parameter groups (rate multipliers per layer).
        optimizer: the phase's optimiser section.
        scheduler: its learning-rate scheduler, or None.
        max_epochs: the run's epoch limit (schedulers spanning the run need it).
        target_kind: what the targets are ("class", ...), for the metrics.
        num_classes: the class count when the targets are classes, else None.
        lr_grid: the rates the device can set (`hardware.lr_grid`): every step uses the nearest
            to each group's rate; None without.
    """

    trainable: tuple[str, ...]
    groups: tuple[ParameterGroup, ...]
    optimizer: OptimizerSpec
    scheduler: SchedulerSpec | None
    max_epochs: int
    target_kind: str
    num_classes: int | None
    lr_grid: tuple[float, ...] | None = None


class TrainingModule(LightningModule):
    """One training run: freezing, the optimiser, and the training, validation and test steps.

    Subclasses say how a batch is scored: `training_loss(batch)` returns the loss to minimise
    (logging what they want), `evaluate(batch, split)` logs the loss and metrics of "valid" or
    "test".

    Args:
        network: the module trained; it exposes `order` and `layer_parameters(name)`.
        settings: the run's settings.
    """

    def __init__(self, network: Any, settings: RunSettings) -> None:
        super().__init__()
        self.network = network
        self.settings = settings
        self.trainable = set(settings.trainable)
        self.freeze_layers()

    def freeze_layers(self) -> None:
        """`requires_grad` on exactly the trainable layers (frozen layers keep their values)."""
        for name in self.network.order:
            for _, parameter in self.network.layer_parameters(name):
                parameter.requires_grad_(name in self.trainable)

    def training_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, batch: dict[str, torch.Tensor], split: str) -> None:
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        stop_unless_finite(self, loss)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> None:
        self.evaluate(batch, "valid")

    def test_step(self, batch: dict[str, torch.Tensor], batch_index: int) -> None:
        self.evaluate(batch, "test")

    def configure_optimizers(self) -> Any:
        settings = self.settings
        optimizer = build_optimizer(settings.optimizer,
                                    parameter_groups(self.network, settings.groups, self.trainable))
        if settings.lr_grid is not None:
            from nndsl.backend.hardware import snap_rates_to_grid

            snap_rates_to_grid(optimizer, settings.lr_grid)
        scheduler = build_scheduler(settings.scheduler, optimizer, settings.max_epochs,
                                    lambda: stepping_batches(self.trainer))
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


class NndslModule(TrainingModule):
    """One run of a graph module under the compiled loss, with the spec's metrics.

    Args:
        network: the graph module.
        loss: the compiled loss (it may read the network: weight penalties).
        settings: the run's settings.
        metric_names: the spec's metrics.
        space_label: the label that separates words, for word-level metrics; None without.
        decoding: lexicon, grammar and states per label for word accuracy; None without.
    """

    def __init__(self, network: GraphModule, loss: CompiledLoss, settings: RunSettings,
                 metric_names: tuple[str, ...], space_label: int | None = None,
                 decoding: dict | None = None):
        super().__init__(network, settings)
        self.compiled_loss = loss
        self.blank = loss.loss.blank
        self.space_label = space_label
        self.metrics = torch.nn.ModuleDict({
            split: build_metrics(
                tuple(name for name in metric_names if split == "test" or name not in UNLOGGED),
                settings.target_kind, settings.num_classes, self.blank, space_label, decoding)
            for split in ("valid", "test")})
        self.on_train_epoch_start()

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

    def training_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._step(batch, "train")

    def evaluate(self, batch: dict[str, torch.Tensor], split: str) -> None:
        self._step(batch, split)

    def on_train_epoch_start(self) -> None:
        self.train_loss_sum: torch.Tensor | float = 0.0
        self.train_examples = 0  # (a run resumed in mid-epoch starts from __init__'s zeros)

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
