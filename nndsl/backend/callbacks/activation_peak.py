"""Backend stage: the measured peak of saved activations of every training step, for runs with a
memory budget, beside the planner's prediction.

In: the network being trained (its forward pass is watched through module hooks) and the
plan's `NetworkPeak` (`nndsl.plan.memory.network_peak`). Out: `summary()`, the row fields
`activation_peak_bytes` (the largest measured over the run's training steps),
`planned_peak_bytes` and `plain_peak_bytes`, which the results table and `summary.json` show.

What is measured: the bytes autograd keeps for the backward pass of the network's forward (the
loss excluded, as in the plan), each storage counted once while it is alive, with what
checkpointed segments save while they are recomputed during backward, by
`nndsl.backend.saved_tensor_meter.SavedTensorMeter`; parameters, buffers and the input batch are
not activations and are left out. Recurrent layers under a recompute schedule keep their states
outside autograd and count them themselves (`RecomputeStatistics.peak_stored_bytes`); their
peaks are added. Ensembles are measured by a separate pass (torch.func's vectorised members
refuse saved-tensor hooks): `nndsl.backend.callbacks.ensemble_peak`. Nothing is measured on a
torch without the private hook lookup the meter needs to count recomputation. The peak so far
is part of the callback's checkpoint state, so a resumed run keeps it. A training step that
runs the network several times (a classifier set's retraining) is measured over its first pass.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback

from nndsl.backend.saved_tensor_meter import SavedTensorMeter, counts_recomputation
from nndsl.plan.memory.network_peak import NetworkPeak


class ActivationPeak(Callback):
    """Measure each training step's saved-activation peak; keep the largest.

    Args:
        network: the module whose forward pass is measured (a `GraphModule`).
        planned: the planner's predicted and plain bytes for the same network.
    """

    def __init__(self, network: torch.nn.Module, planned: NetworkPeak) -> None:
        self.network = network
        self.planned = planned
        self.peak_bytes = 0
        self._meter: SavedTensorMeter | None = None
        self._inside = False
        self._recurrent: list[Any] = []
        self._handles: list[Any] = []
        self._checkpoint_context: list[tuple[torch.nn.Module, Any]] = []

    def on_fit_start(self, trainer: Any, module: Any) -> None:
        self._handles = [self.network.register_forward_pre_hook(self._start),
                         self.network.register_forward_hook(self._stop)]

    def on_fit_end(self, trainer: Any, module: Any) -> None:
        self._finish()
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def on_exception(self, trainer: Any, module: Any, exception: BaseException) -> None:
        self.on_fit_end(trainer, module)

    def _start(self, network: torch.nn.Module, arguments: tuple[Any, ...]) -> None:
        # Once per training step (a step may run the network more than once); evaluation and
        # no-grad passes keep nothing for backward.
        if self._meter is not None or not (network.training and torch.is_grad_enabled()):
            return
        inputs = [value for value in arguments if isinstance(value, torch.Tensor)]
        self._meter = SavedTensorMeter(exclude=[*network.parameters(), *network.buffers(),
                                                *inputs])
        self._recurrent = reset_recurrent_layers([network])
        # Count what recomputation saves, in every part that checkpoints (an ensemble's members).
        self._checkpoint_context = [(part, part.checkpoint_context) for part in network.modules()
                                    if hasattr(part, "checkpoint_context")]
        for part, _ in self._checkpoint_context:
            part.checkpoint_context = self._meter.recompute_context
        self._meter.__enter__()
        self._inside = True

    def _stop(self, network: torch.nn.Module, arguments: tuple[Any, ...], output: Any) -> None:
        if self._inside and self._meter is not None:
            self._meter.__exit__(None, None, None)
            self._inside = False

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any,
                           batch_index: int) -> None:
        """After the backward pass: the step's peak (recomputation included) is known."""
        self._finish()

    def _finish(self) -> None:
        meter, self._meter = self._meter, None
        if meter is None:
            return
        if self._inside:
            meter.__exit__(None, None, None)
            self._inside = False
        for part, context in self._checkpoint_context:
            part.checkpoint_context = context
        self._checkpoint_context = []
        self.peak_bytes = max(self.peak_bytes,
                              meter.peak_bytes + recurrent_stored_bytes(self._recurrent))

    def summary(self) -> dict[str, int]:
        """The row fields: measured peak, planned peak, plain backpropagation's peak (bytes)."""
        return {"activation_peak_bytes": self.peak_bytes,
                "planned_peak_bytes": self.planned.predicted_bytes,
                "plain_peak_bytes": self.planned.plain_bytes}

    def state_dict(self) -> dict[str, Any]:
        return {"peak_bytes": self.peak_bytes}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.peak_bytes = int(state_dict.get("peak_bytes", 0))


def reset_recurrent_layers(modules: list[torch.nn.Module]) -> list[torch.nn.Module]:
    """The layers inside `modules` that count their own saved state (recurrent layers, which the
    saved-tensor meter cannot see), their statistics reset for a new measurement."""
    layers = [layer for module in modules for layer in module.modules()
              if hasattr(layer, "reset_statistics")]
    for layer in layers:
        layer.reset_statistics()
    return layers


def recurrent_stored_bytes(layers: list[torch.nn.Module]) -> int:
    """The bytes `reset_recurrent_layers`' layers kept at their peaks since the reset."""
    return sum(layer.statistics.peak_stored_bytes for layer in layers)


def activation_peak(context: Any) -> Callback | None:
    """The meter for a run context (`nndsl.run.session.RunContext`): None without a memory
    budget; for ensembles, their measuring pass (`nndsl.backend.callbacks.ensemble_peak`); on a
    torch whose hooks the meter cannot reach inside checkpoint recomputation
    (`counts_recomputation`), a `NotMeasured` row saying so beside the plan's figures."""
    plan = context.plan
    if plan.memory is None:
        return None
    from nndsl.plan.memory.network_peak import network_peak

    memory_spec = context.spec.memory
    planned = network_peak(plan.memory, context.graph, context.spec.data.batch_size,
                           memory_spec.sequence_length if memory_spec is not None else None)
    if not counts_recomputation():
        return NotMeasured(planned, "this torch lacks the saved-tensor hook lookup the meter "
                           "needs to count what recomputation saves")
    if plan.ensemble is not None:
        from nndsl.backend.callbacks.ensemble_peak import EnsembleActivationPeak

        return EnsembleActivationPeak(context.network, planned,
                                      bagged=plan.ensemble.method == "bagging")
    return ActivationPeak(context.network, planned)


class NotMeasured(Callback):
    """A budgeted run whose peak cannot be measured honestly: the row says why, beside the
    plan's figures, rather than leaving the measurement out."""

    def __init__(self, planned: NetworkPeak, reason: str) -> None:
        self.planned, self.reason = planned, reason

    def summary(self) -> dict[str, Any]:
        return {"activation_peak_measured": f"not measured: {self.reason}",
                "planned_peak_bytes": self.planned.predicted_bytes,
                "plain_peak_bytes": self.planned.plain_bytes}
