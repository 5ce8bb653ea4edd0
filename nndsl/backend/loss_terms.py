"""Backend stage: the loss terms layers add, weighted as the plan says, summed onto a data term.

In: the network (a module with `layer(name)`, the `GraphModule`), the plan's `LossTermPlan`s and
the training-set size N. Out: the data term plus Σ weight · value over the terms, the terms
marked `per_example` divided by N (variational dropout's KL: the paper's bound over the data set,
divided by N as the mean data term is).

A layer's built module provides its terms' values for its latest forward pass through a
`loss_terms()` method returning a dict by term name. The search for that method goes depth
first through the layer's module: a module that defines it accounts for its children (a
`Sequential` of a noisy linear map and its activation finds the linear map's terms).

Summation order: the per-example terms are stacked in plan (graph) order and summed, then
divided by N once, and added to the data term; the other terms follow. With weight 1 this is
bit for bit what the variational-dropout KL was before it was a declared term (`total_kl`'s
stack-and-sum in module order, which is the graph order), which a test checks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nndsl.plan import LossTermPlan


def module_loss_terms(module: nn.Module) -> dict[str, torch.Tensor]:
    """The terms of one layer's module, by name (summed where several submodules have one)."""
    found: dict[str, list[torch.Tensor]] = {}

    def visit(current: nn.Module) -> None:
        provider = getattr(current, "loss_terms", None)
        if callable(provider):
            for name, value in provider().items():
                found.setdefault(name, []).append(value)
            return
        for child in current.children():
            visit(child)

    visit(module)
    return {name: values[0] if len(values) == 1 else torch.stack(values).sum()
            for name, values in found.items()}


def add_layer_terms(network: Any, data: torch.Tensor, terms: tuple[LossTermPlan, ...],
                    training_examples: int) -> torch.Tensor:
    """`data` plus the weighted layer terms (see the module docstring); `data` itself when the
    plan has none."""
    if not terms:
        return data
    values = {layer: module_loss_terms(network.layer(layer))
              for layer in dict.fromkeys(term.layer for term in terms)}
    per_example = [term.weight * values[term.layer][term.term] for term in terms
                   if term.per_example]
    plain = [term.weight * values[term.layer][term.term] for term in terms
             if not term.per_example]
    total = data
    if per_example:
        total = total + torch.stack(per_example).sum() / max(1, training_examples)
    if plain:
        total = total + torch.stack(plain).sum()
    return total
