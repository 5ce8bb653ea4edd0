"""Backend stage: a phase's optimiser and learning-rate scheduler, from the plan.

In: the phase's optimiser settings, its parameter groups (rates already decided by the plan) and
the set of layers that train in this run. Out: a torch optimiser whose groups hold exactly the
trainable layers' parameters with the planned rates; frozen layers are not in it at all. It is
built anew at every phase (and top-down attempt) start, never patched.
"""

from __future__ import annotations

from typing import Any

import torch

from nndsl.backend.graph_module import GraphModule
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
            torch_groups.append({"params": parameters, "lr": group.lr, "weight_decay": group.weight_decay,
                                 "name": group.name})
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
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov)
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
        rate = groups[0]["lr"] if groups else settings.lr  # the planned rate (a tempering global_lr)
        return torch.optim.LBFGS(parameters, lr=rate, max_iter=settings.max_iter,
                                 max_eval=settings.max_eval, history_size=settings.history_size,
                                 line_search_fn=None if settings.line_search == "none" else settings.line_search,
                                 tolerance_grad=settings.tolerance_grad,
                                 tolerance_change=settings.tolerance_change)
    return DeltaBarDelta(groups, lr=settings.lr, momentum=settings.momentum, increment=settings.increment,
                         decrement=settings.decrement, theta=settings.theta)


def build_scheduler(scheduler: SchedulerSpec | None, optimizer: torch.optim.Optimizer, max_epochs: int
                    ) -> dict[str, Any] | None:
    """Lightning's lr-scheduler configuration dict, or None."""
    if scheduler is None:
        return None
    if scheduler.type == "step":
        return {"scheduler": torch.optim.lr_scheduler.StepLR(optimizer, scheduler.step_size, scheduler.gamma)}
    if scheduler.type == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=scheduler.gamma,
                                                             patience=scheduler.patience)
        return {"scheduler": plateau, "monitor": scheduler.monitor}
    return {"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, scheduler.max_epochs or max_epochs)}
