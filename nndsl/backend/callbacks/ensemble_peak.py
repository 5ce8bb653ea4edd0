"""Backend stage: the measured peak of saved activations for ensembles with a memory budget.

In: the ensemble being trained (`nndsl.backend.ensemble.network.EnsembleNetwork`) and the plan's
`NetworkPeak` for one network. Out: `summary()`, the row fields `activation_peak_bytes` (the
largest one member's step keeps: the shared trunk, if any, and that member), beside the plan's
`planned_peak_bytes` and `plain_peak_bytes` for one network; `ensemble_peak_bytes` (the whole
ensemble's step: the trunk and every member alive together until backward); and
`activation_peak_measured`, which says how.

The whole ensemble's peak: a memory budget's checkpointing cannot run under torch.func's vmap,
so budgeted ensembles are planned looped, and their training steps are measured as a single
network's are (`ActivationPeak`: every step, the largest kept, recomputation in each member
counted). Vectorised members under vmap refuse the meter's saved-tensor hooks; for them a pass
gives it (below).

Each member's peak, and the pass: at the first training batch of each run (phase attempt) the
callback runs plain copies of each member (and of the trunk) with the same weights, in training
mode and under the trainer's precision, on that batch (each member's own slice under bagging):
forward and backward under the meter, one member at a time; for vmapped members then once more
with all members before one backward. The copies leave the training network's parameters,
gradients, batch-norm statistics and random state untouched (the random state is forked). A
pass measures the members' forward code in its looped form: vmap's batched kernels keep the
same tensors stacked on a member axis, which it does not observe directly.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from nndsl.backend.callbacks.activation_peak import (ActivationPeak, recurrent_stored_bytes,
                                                     reset_recurrent_layers)
from nndsl.backend.saved_tensor_meter import SavedTensorMeter
from nndsl.plan.memory.network_peak import NetworkPeak

STEPS = ("whole ensemble: every training step under the meter, the largest kept; per member: a "
         "separate pass on copies (same weights) at the run's first training batch")
PASSES = ("a separate pass on the run's first training batch: copies of the trunk and members "
          "(same weights), each member alone, then all before one backward (vmap refuses the "
          "meter's hooks)")


class EnsembleActivationPeak(ActivationPeak):
    """An ensemble's saved-activation peaks: the whole step's from the training steps where the
    members run outside vmap (looped, as a memory budget plans them), else from a pass; each
    member's from a pass at the run's first training batch.

    Args:
        network: the `EnsembleNetwork` being trained.
        planned: the planner's predicted and plain bytes for one network.
        bagged: whether each member gets its own batch (`[M, B, ...]` inputs).
    """

    def __init__(self, network: torch.nn.Module, planned: NetworkPeak, bagged: bool) -> None:
        super().__init__(network, planned)
        self.bagged = bagged
        self.steps = network.members.path != "vmap"  # torch.func refuses the meter's hooks
        self.member_bytes = 0
        self.pass_bytes = 0  # the whole ensemble, by the pass (vmapped members only)

    def on_fit_start(self, trainer: Any, module: Any) -> None:
        if self.steps:
            super().on_fit_start(trainer, module)

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any,
                             batch_index: int) -> None:
        if self.member_bytes or not isinstance(batch, dict) or "inputs" not in batch:
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
            if not self.steps:
                self.pass_bytes = self._measure(ensemble, list(range(count)), slices)

    def _measure(self, ensemble: Any, indices: list[int], slices: list[torch.Tensor]) -> int:
        """Bytes saved at the peak of one forward and backward of these members (and trunk)."""
        trunk = copy.deepcopy(ensemble.shared) if ensemble.shared is not None else None
        # Copies: a looped ensemble's `member` is the training module itself.
        members = [copy.deepcopy(ensemble.member(index)) for index in indices]
        modules = [module for module in (trunk, *members) if module is not None]
        for module in modules:
            module.train(self.network.training)
        recurrent = reset_recurrent_layers(modules)
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
        return meter.peak_bytes + recurrent_stored_bytes(recurrent)

    def summary(self) -> dict[str, Any]:
        """The row fields: per-member and whole-ensemble peaks beside the plan's, and how."""
        return {"activation_peak_bytes": self.member_bytes,
                "planned_peak_bytes": self.planned.predicted_bytes,
                "plain_peak_bytes": self.planned.plain_bytes,
                "ensemble_peak_bytes": self.peak_bytes if self.steps else self.pass_bytes,
                "activation_peak_measured": STEPS if self.steps else PASSES}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "member_bytes": self.member_bytes,
                "pass_bytes": self.pass_bytes}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.member_bytes = int(state_dict.get("member_bytes", 0))
        self.pass_bytes = int(state_dict.get("pass_bytes", 0))
