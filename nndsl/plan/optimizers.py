"""Plan stage: what the chosen optimisers can honour.

In: the planned phases (each with its optimiser settings and parameter groups) and the spec. Out:
diagnostics only. torch's LBFGS keeps a single parameter group (one rate, one curvature history
over all parameters), so per-layer rates from tempering or multipliers cannot be honoured by it
(E610); it re-evaluates the loss of the batch at hand during its line search, so gradients
accumulated over earlier batches would be mixed into those evaluations (E611).
"""

from __future__ import annotations

from nndsl.diagnostics import StageContext
from nndsl.plan.plan import PhasePlan


def check_optimizers(spec, phases: tuple[PhasePlan, ...], context: StageContext) -> None:
    """Report phases whose optimiser is `lbfgs` but whose plan needs several parameter groups
    (E610), and `lbfgs` with gradient accumulation (E611, once)."""
    locate, diagnostics = context.locate, context.diagnostics
    accumulation_reported = False
    for index, phase in enumerate(phases):
        if phase.optimizer.type != "lbfgs":
            continue
        own = index < len(spec.schedule) and spec.schedule[index].optimizer is not None
        path = ("schedule", index, "optimizer", "type") if own else ("optimizer", "type")
        if len(phase.parameter_groups) > 1:
            rates = ", ".join(group.name for group in phase.parameter_groups)
            diagnostics.add("E610", f"phase `{phase.name}` trains with lbfgs, which keeps one "
                            f"parameter group, but the plan gives {len(phase.parameter_groups)} "
                            f"({rates})", locate(path), "remove the per-layer rates (tempering "
                            "rule, multipliers, no_decay) or choose another optimizer")
        if spec.trainer.accumulate_grad_batches > 1 and not accumulation_reported:
            accumulation_reported = True
            diagnostics.add("E611", f"lbfgs steps on one batch at a time, but trainer."
                            f"accumulate_grad_batches is {spec.trainer.accumulate_grad_batches}",
                            locate(("trainer", "accumulate_grad_batches")),
                            "use one larger batch (data.batch_size) instead of accumulation")
