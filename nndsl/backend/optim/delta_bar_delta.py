"""Backend stage: Jacobs' (1988) delta-bar-delta optimiser with per-weight adaptive gains.

In: parameters or parameter groups (each group's `lr` is the base rate, e.g. a tempered local rate
η_j from `nndsl.backend.tempering.tempered_parameter_groups`). Out: a `torch.optim.Optimizer`
whose state (gains, gradient traces, velocities) lives in `state_dict`, so training resumes exactly.

Per weight, with gradient g(t) (weight decay included) and trace δ̄:
    gain += κ        if δ̄(t−1) · g(t) > 0   (the gradient kept its sign: speed up additively)
    gain *= φ        if δ̄(t−1) · g(t) < 0   (the sign flipped: slow down multiplicatively)
    δ̄(t) = (1 − θ) g(t) + θ δ̄(t−1)
    v(t) = μ v(t−1) − lr · gain · g(t);   w += v(t)
Gains start at 1 and δ̄ at 0, so the first step is plain gradient descent. The gain is updated
before it is used, as in Jacobs' rule ε(t+1) = ε(t) + Δε(t), w(t+1) = w(t) − ε(t+1) g(t).
Schraudolph & Sejnowski (Table 1) use κ = 0.1 and φ = 0.9; θ is unstated there (0.7 here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class DeltaBarDelta(torch.optim.Optimizer):
    """Delta-bar-delta: gradient descent with per-weight gains adapted from gradient sign agreement.

    Args:
        params: Parameters or parameter-group dicts (groups may override every argument below).
        lr: Base learning rate; the step of a weight is lr × its gain.
        momentum: μ of the velocity v(t) = μ v(t−1) − lr · gain · g(t).
        increment: κ, added to a gain when the gradient agrees in sign with its trace.
        decrement: φ, the factor a gain is multiplied by when they disagree.
        theta: θ, the weight of the old trace in δ̄(t) = (1 − θ) g(t) + θ δ̄(t−1).
        weight_decay: Added to the gradient as weight_decay × w (the gradient of a cost
            ½ · weight_decay · Σ w²), before the sign test.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.0,
        increment: float = 0.1,
        decrement: float = 0.9,
        theta: float = 0.7,
        weight_decay: float = 0.0,
    ) -> None:
        # Argument checks as torch's own optimisers make them (programming errors, not spec errors).
        if lr < 0 or momentum < 0 or increment < 0 or weight_decay < 0:
            raise ValueError("lr, momentum, increment and weight_decay must be non-negative")
        if not 0 < decrement <= 1 or not 0 <= theta < 1:
            raise ValueError("decrement must be in (0, 1] and theta in [0, 1)")
        defaults = {"lr": lr, "momentum": momentum, "increment": increment,
                    "decrement": decrement, "theta": theta, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Performs one update of every parameter that has a gradient.

        Args:
            closure: Optional function that re-evaluates the model and returns the loss.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                gradient = parameter.grad
                if group["weight_decay"]:
                    gradient = gradient.add(parameter, alpha=group["weight_decay"])
                state = self.state[parameter]
                if not state:
                    state["gain"] = torch.ones_like(parameter)
                    state["trace"] = torch.zeros_like(parameter)
                    state["velocity"] = torch.zeros_like(parameter)
                gain, trace, velocity = state["gain"], state["trace"], state["velocity"]
                agreement = trace * gradient
                gain.add_((agreement > 0).to(gain.dtype), alpha=group["increment"])
                gain.copy_(torch.where(agreement < 0, gain * group["decrement"], gain))
                trace.mul_(group["theta"]).add_(gradient, alpha=1 - group["theta"])
                velocity.mul_(group["momentum"]).addcmul_(gain, gradient, value=-group["lr"])
                parameter.add_(velocity)
        return loss
