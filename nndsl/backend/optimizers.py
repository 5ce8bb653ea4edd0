"""Backend stage: a phase's optimiser and learning-rate scheduler, from the plan.

In: the phase's optimiser settings, its parameter groups (rates already decided by the plan) and
the set of layers that train in this run. Out: a torch optimiser whose groups hold exactly the
trainable layers' parameters with the planned rates; frozen layers are not in it at all. It is
built anew at every phase (and top-down attempt) start, never patched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nndsl.backend.optim.delta_bar_delta import DeltaBarDelta
from nndsl.plan import ParameterGroup
from nndsl.spec.training import SchedulerSpec


def parameter_groups(network: Any, groups: tuple[ParameterGroup, ...], trainable: set[str]
                     ) -> list[dict[str, Any]]:
    """torch parameter-group dicts restricted to `trainable` layers (empty groups dropped)."""
    torch_groups = []
    for group in groups:
        parameters = [parameter for layer in group.layers if layer in trainable
                      for name, parameter in network.layer_parameters(layer)
                      if parameter.requires_grad and _belongs(name, group.parameters_of)]
        if parameters:
            torch_groups.append({"params": parameters, "lr": group.lr,
                                 "weight_decay": group.weight_decay, "name": group.name})
    return torch_groups


def _belongs(parameter_name: str, parameters_of: str) -> bool:
    if parameters_of == "all":
        return True
    # torch names biases `bias`, or `bias_ih_l0` / `bias_hh` in recurrent modules.
    is_bias = parameter_name.rsplit(".", 1)[-1].startswith("bias")
    return is_bias if parameters_of == "biases" else not is_bias


def build_optimizer(settings: Any, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """The torch optimiser named by the spec (`settings` is the phase's optimizer section)."""
    kind = settings.type
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum,
                               nesterov=settings.nesterov)
    if kind == "adadelta":
        return torch.optim.Adadelta(groups, lr=settings.lr, rho=settings.rho, eps=settings.eps)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=settings.lr, betas=settings.betas, eps=settings.eps)
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=settings.lr, betas=settings.betas, eps=settings.eps)
    if kind == "lbfgs":
        # One group (the plan refuses more, E610); Lightning's automatic optimisation hands
        # LBFGS the closure it re-evaluates during its line search.
        parameters = [parameter for group in groups for parameter in group["params"]]
        # the planned rate (a tempering global_lr)
        rate = groups[0]["lr"] if groups else settings.lr
        return torch.optim.LBFGS(parameters, lr=rate, max_iter=settings.max_iter,
                                 max_eval=settings.max_eval, history_size=settings.history_size,
                                 line_search_fn=None if settings.line_search == "none"
                                 else settings.line_search, tolerance_grad=settings.tolerance_grad,
                                 tolerance_change=settings.tolerance_change)
    return DeltaBarDelta(groups, lr=settings.lr, momentum=settings.momentum,
                         increment=settings.increment,
                         decrement=settings.decrement, theta=settings.theta)


def scheduler_interval(scheduler: SchedulerSpec) -> str:
    """"epoch" or "step": when the rate changes (one-cycle is per step unless told otherwise)."""
    return scheduler.interval or ("step" if scheduler.type == "one_cycle" else "epoch")


def stepping_batches(trainer: Any) -> int:
    """The optimiser steps a run takes, counted as Lightning's `estimated_stepping_batches` counts
    them (the data module's batches per epoch and process, cut by `limit_train_batches`, over
    `accumulate_grad_batches`, times the epochs, capped by `max_steps`), but from the data
    module's sizes (`train_batches_per_epoch`), without building a loader.

    Why not Lightning's estimate: asked in `configure_optimizers`, it builds the training loader
    and its first iterator before a resumed run's loop and loader state are restored, and that
    loader stays; a run resumed in mid-epoch would then start its epoch again from the first
    batch (and from the seed's shuffle) while the loop counts on from the interrupted batch.
    """
    datamodule = trainer.datamodule
    if datamodule is None:  # loaders given to `fit` directly: only Lightning can count them
        return int(trainer.estimated_stepping_batches)
    if trainer.max_epochs == -1:
        return trainer.max_steps
    batches = datamodule.train_batches_per_epoch(trainer.world_size)
    limit = trainer.limit_train_batches  # as Lightning's `_parse_num_batches` applies it
    batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
    steps = -(-batches // trainer.accumulate_grad_batches) * max(trainer.max_epochs, 1)
    return steps if trainer.max_steps == -1 else min(steps, trainer.max_steps)


def build_scheduler(scheduler: SchedulerSpec | None, optimizer: torch.optim.Optimizer,
                    max_epochs: int, total_steps: Callable[[], int] | None = None
                    ) -> dict[str, Any] | None:
    """Lightning's lr-scheduler configuration dict, or None.

    `max_epochs` is the phase's epoch cap; `total_steps` gives the phase's optimiser steps
    (`stepping_batches`), asked only for a per-step schedule that needs its length. A warmup
    is torch's `LinearLR` followed, through `SequentialLR`, by the main scheduler over the rest.
    The configuration is named "lr", so `LearningRateMonitor` logs `lr` (or `lr/<group>`).
    """
    if scheduler is None:
        return None
    interval = scheduler_interval(scheduler)
    schedulers = torch.optim.lr_scheduler
    if scheduler.type == "plateau":
        plateau = schedulers.ReduceLROnPlateau(optimizer, factor=scheduler.gamma,
                                               patience=scheduler.patience)
        return {"scheduler": plateau, "monitor": scheduler.monitor, "name": "lr"}

    def length() -> int:
        if interval == "epoch":
            return scheduler.max_epochs or max_epochs
        assert total_steps is not None, "a per-step schedule needs the phase's step count"
        return int(total_steps())

    if scheduler.type == "one_cycle":
        rates = [group["lr"] for group in optimizer.param_groups]  # each group peaks at its own
        main: Any = schedulers.OneCycleLR(optimizer, max_lr=rates, total_steps=max(2, length()),
                                          pct_start=scheduler.pct_start,
                                          div_factor=scheduler.div_factor,
                                          final_div_factor=scheduler.final_div_factor)
    elif scheduler.type == "step":
        main = schedulers.StepLR(optimizer, scheduler.step_size, scheduler.gamma)
    elif scheduler.type == "constant":
        main = schedulers.ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:  # cosine, over what is left after the warmup
        main = schedulers.CosineAnnealingLR(optimizer, max(1, length() - scheduler.warmup))
    if scheduler.warmup:
        warmup = schedulers.LinearLR(optimizer, start_factor=scheduler.warmup_start, end_factor=1.0,
                                     total_iters=scheduler.warmup)
        main = schedulers.SequentialLR(optimizer, [warmup, main], milestones=[scheduler.warmup])
    return {"scheduler": main, "interval": interval, "name": "lr"}
