"""Backend stage: the measured peak of saved activations for ensembles with a memory budget.

In: the ensemble being trained (`nndsl.backend.ensemble.network.EnsembleNetwork`) and the plan's
`NetworkPeak` for one network. Out: `summary()`, the row fields `activation_peak_bytes` (the
largest one member's step keeps: the shared trunk, if any, and that member), beside the plan's
`planned_peak_bytes` and `plain_peak_bytes` for one network; `ensemble_peak_bytes` (the whole
ensemble's step: the trunk and every member alive together until backward, as one vectorised
step keeps them); and `activation_peak_measured`, which says how.

Why a measuring pass: vectorised members run under torch.func's vmap, which refuses the
saved-tensor hooks `SavedTensorMeter` counts with (a memory budget's checkpointing cannot run
under vmap either, so budgeted ensembles are planned looped; the pass measures both forms
alike and gives per-member figures). So at the first training batch of each run
(phase attempt) the callback runs the members one at a time, outside vmap — plain copies of each
member (and of the trunk) with the same weights, in training mode, on that batch (each member's
own slice under bagging) — forward and backward under the meter, checkpoint recomputation
counted as for single networks; then once more with all members before one backward. The copies
keep the training network's parameters, gradients, batch-norm statistics and random state
untouched (the random state is forked). This is what the members' forward code saves in its
looped form; vmap's batched kernels save the same tensors stacked on a member axis, which this
pass does not observe directly.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from lightning.pytorch import Callback

from nndsl.backend.saved_tensor_meter import SavedTensorMeter
from nndsl.plan.memory.network_peak import NetworkPeak

MEASURED = ("a separate pass on the run's first training batch: copies of the trunk and members "
            "(same weights), each member alone, then all before one backward")


class EnsembleActivationPeak(Callback):
    """Measure an ensemble's saved-activation peaks with a looped pass at the run's first batch.

    Args:
        network: the `EnsembleNetwork` being trained.
        planned: the planner's predicted and plain bytes for one network.
        bagged: whether each member gets its own batch (`[M, B, ...]` inputs).
    """

    def __init__(self, network: torch.nn.Module, planned: NetworkPeak, bagged: bool) -> None:
        self.network, self.planned, self.bagged = network, planned, bagged
        self.member_bytes = 0
        self.ensemble_bytes = 0

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any,
                             batch_index: int) -> None:
        if self.ensemble_bytes or not isinstance(batch, dict) or "inputs" not in batch:
            return  # measured already (a resumed run keeps its figures)
        inputs = batch["inputs"]
        devices = [inputs.device] if inputs.device.type == "cuda" else []
        # Under the trainer's precision (autocast), as the training step's forward runs.
        precision = trainer.precision_plugin.forward_context()
        with torch.random.fork_rng(devices=devices), torch.enable_grad(), precision:
            ensemble = self.network.members
            count = ensemble.members
            slices = [inputs[index] if self.bagged else inputs for index in range(count)]
            self.member_bytes = max(self._measure(ensemble, [index], slices)
                                    for index in range(count))
            self.ensemble_bytes = self._measure(ensemble, list(range(count)), slices)

    def _measure(self, ensemble: Any, indices: list[int], slices: list[torch.Tensor]) -> int:
        """Bytes saved at the peak of one forward and backward of these members (and trunk)."""
        trunk = copy.deepcopy(ensemble.shared) if ensemble.shared is not None else None
        # Copies: a looped ensemble's `member` is the training module itself.
        members = [copy.deepcopy(ensemble.member(index)) for index in indices]
        modules = [module for module in (trunk, *members) if module is not None]
        for module in modules:
            module.train(self.network.training)
            for layer in module.modules():
                if hasattr(layer, "reset_statistics"):  # recurrent layers count their own
                    layer.reset_statistics()
        excluded = [tensor for module in modules
                    for tensor in (*module.parameters(), *module.buffers())]
        meter = SavedTensorMeter(exclude=[*excluded, *slices])
        for module in modules:
            if hasattr(module, "checkpoint_context"):  # count what recomputation saves
                module.checkpoint_context = meter.recompute_context
        outputs = []
        with meter:
            shared = trunk(slices[0]) if trunk is not None and not self.bagged else None
            for index, member in zip(indices, members):
                features = shared if shared is not None else (
                    trunk(slices[index]) if trunk is not None else slices[index])
                output = member(features)
                outputs.append(output[0] if isinstance(output, tuple) else output)
        total = sum(output.float().sum() for output in outputs)
        if isinstance(total, torch.Tensor) and total.requires_grad:
            total.backward()  # into the copies' gradients only
        recurrent = sum(layer.statistics.peak_stored_bytes for module in modules
                        for layer in module.modules() if hasattr(layer, "reset_statistics"))
        return meter.peak_bytes + recurrent

    def summary(self) -> dict[str, Any]:
        """The row fields: per-member and whole-ensemble peaks beside the plan's, and how."""
        return {"activation_peak_bytes": self.member_bytes,
                "planned_peak_bytes": self.planned.predicted_bytes,
                "plain_peak_bytes": self.planned.plain_bytes,
                "ensemble_peak_bytes": self.ensemble_bytes,
                "activation_peak_measured": MEASURED}

    def state_dict(self) -> dict[str, Any]:
        return {"member_bytes": self.member_bytes, "ensemble_bytes": self.ensemble_bytes}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.member_bytes = int(state_dict.get("member_bytes", 0))
        self.ensemble_bytes = int(state_dict.get("ensemble_bytes", 0))
