"""Backend stage: Σ|Δθ| per layer from the start of a run to its best-validation epoch.

The top-down training paper's diagnostic (Table 1, right half): for each layer, the sum over its
parameters of |θ_best − θ_0|, θ_best being the values at the epoch with the best monitored
validation score. The paper measures from θ_1, the values after the first epoch; here θ_0 is the
values the run starts training from (after any re-initialisation the phase plans), so that a
single-epoch run (online training, an adapt phase) reports what it changed rather than 0, and the
first epoch's change counts for every run alike.

In: a Lightning run whose module holds the network as `module.network` (`order` and
`layer_parameters(name)`, as `GraphModule` and `EnsembleNetwork` have), the monitored metric and
its mode. Out: `changes` (layer -> Σ|Δθ|, only layers whose parameters require gradients),
`best_epoch` (1-based) and `best_score`; `summary()` gives the span as epochs 0 (the start)
to `best_epoch`. The snapshot and the sums are part of the callback's checkpoint state, so a
resumed run goes on counting from the same θ_0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from lightning.pytorch import Callback


class ParameterChange(Callback):
    """Snapshot every trainable layer as training starts; at each new best, Σ|θ − θ_0| per
    layer.

    Args:
        monitor: the metric that decides the best epoch (the run's checkpoint monitor).
        mode: "min" or "max".
    """

    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor = monitor
        self.mode = mode
        self.start: dict[str, torch.Tensor] = {}  # "layer\tposition" -> values at the start
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

    def on_train_start(self, trainer: Any, module: Any) -> None:
        # Before the first step; a resumed run keeps the snapshot its checkpoint restored.
        if not self.start:
            self.start = {key: value.detach().to("cpu", copy=True)
                          for key, value in self._trainable(module).items()}

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
                "change_from_epoch": 0 if self.start else None, "change_to_epoch": self.best_epoch}

    def state_dict(self) -> dict[str, Any]:
        return {"start": self.start, "changes": self.changes, "best_epoch": self.best_epoch,
                "best_score": self.best_score, "epoch": self.epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.start = dict(state_dict.get("start", {}))
        self.changes = dict(state_dict.get("changes", {}))
        self.best_epoch = state_dict.get("best_epoch")
        self.best_score = state_dict.get("best_score")
        self.epoch = state_dict.get("epoch")
