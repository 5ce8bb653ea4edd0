"""Backend stage: Σ|Δθ| per layer from the end of epoch 1 to the best-validation epoch.

The top-down training paper's diagnostic (Table 1, right half): for each layer, the sum over its
parameters of |θ_best − θ_1|, θ_1 being the values after the first training epoch and θ_best those
at the epoch with the best monitored validation score. Small sums in the bottom layers of a jointly
trained network are the paper's evidence that they are under-trained.

In: a Lightning run whose module holds the network as `module.network` (`order` and
`layer_parameters(name)`, as `GraphModule` and `EnsembleNetwork` have), the monitored metric and
its mode. Out: `changes` (layer -> Σ|Δθ|, only layers whose parameters require gradients),
`best_epoch` (1-based) and `best_score`. The snapshot and the sums are part of the callback's
checkpoint state, so a resumed run goes on counting from the same θ_1.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from lightning.pytorch import Callback


class ParameterChange(Callback):
    """Snapshot every trainable layer after epoch 1; at each new best, Σ|θ − θ_1| per layer.

    Args:
        monitor: the metric that decides the best epoch (the run's checkpoint monitor).
        mode: "min" or "max".
    """

    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor = monitor
        self.mode = mode
        self.start: dict[str, torch.Tensor] = {}  # "layer\tposition" -> values after epoch 1
        self.changes: dict[str, float] = {}
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self.epoch: int | None = None  # the last epoch counted (0-based)

    @property
    def state_key(self) -> str:
        return f"ParameterChange[{self.monitor}]"

    def _trainable(self, module: Any) -> dict[str, torch.Tensor]:
        network = module.network
        # Positions, not names, key a layer's parameters: an ensemble lists one name per member.
        return {f"{layer}\t{position}": parameter for layer in network.order
                for position, (_, parameter) in enumerate(network.layer_parameters(layer))
                if parameter.requires_grad}

    def on_validation_end(self, trainer: Any, module: Any) -> None:
        # At the epoch's end, before Lightning's checkpoint callbacks (which it runs last) save:
        # a checkpoint written now, or at an interruption later in the epoch, holds this update.
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self._update(trainer, module)

    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
        if self.epoch != trainer.current_epoch:  # no validation ran in this epoch
            self._update(trainer, module)

    def _update(self, trainer: Any, module: Any) -> None:
        self.epoch = trainer.current_epoch
        parameters = self._trainable(module)
        if not self.start:
            self.start = {key: value.detach().to("cpu", copy=True)
                          for key, value in parameters.items()}
        value = trainer.callback_metrics.get(self.monitor)
        score = None if value is None else float(value)
        if score is not None and not math.isnan(score):
            if self.best_score is not None and not self._better(score, self.best_score):
                return
            self.best_score = score
        # Without a validation score (no validation split) the latest epoch stands in for the best.
        self.best_epoch = trainer.current_epoch + 1
        changes: dict[str, float] = {}
        with torch.no_grad():
            for key, parameter in parameters.items():
                layer = key.split("\t", 1)[0]
                delta = (parameter.detach().cpu() - self.start[key]).abs().sum().item()
                changes[layer] = changes.get(layer, 0.0) + delta
        self.changes = changes

    def _better(self, score: float, reference: float) -> bool:
        return score < reference if self.mode == "min" else score > reference

    def summary(self) -> dict[str, Any]:
        """What the run records: per-layer sums, and the epochs they span (1-based)."""
        return {"parameter_change": dict(self.changes),
                "change_from_epoch": 1 if self.start else None, "change_to_epoch": self.best_epoch}

    def state_dict(self) -> dict[str, Any]:
        return {"start": self.start, "changes": self.changes, "best_epoch": self.best_epoch,
                "best_score": self.best_score, "epoch": self.epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.start = dict(state_dict.get("start", {}))
        self.changes = dict(state_dict.get("changes", {}))
        self.best_epoch = state_dict.get("best_epoch")
        self.best_score = state_dict.get("best_score")
        self.epoch = state_dict.get("epoch")
