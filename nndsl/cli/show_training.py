"""Command-line layer: the parts of `nndsl show` that say how training runs.

In: the compiled spec and its plan. Out: rich renderables — the trainer line (hardware,
devices, nodes, strategy, precision, logger), one row per phase with its optimiser, learning-rate
scheduler and tempering rule (marked where the phase overrides the spec), the parameter groups
of every phase whose rates differ from the spec-level groups (a phase's own optimiser or
tempering), and the captions that explain the α columns of the tempering and memory tables.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from nndsl.cli.render import literal_row
from nndsl.plan import Plan
from nndsl.plan.plan import ParameterGroup

#: Captions for the two tables with an α column (`nndsl.cli.show`).
TEMPERING_CAPTION = (
    "local rate: the rule's multiple of η for the layer (η_j/η = 1/(s·√ε_j)); attenuation α: "
    "the factor on the error backpropagated into the layer, 1/(s·√fan-out) (— for outputs); "
    "effective rate: the local rate times the α of the layer and of every layer "
    "above it (and the output's error scale)")
MEMORY_CAPTION = (
    "units: hidden states (h, and c for an LSTM) the policy may hold per direction; α: the size "
    "of one internal state (what a step keeps for its backward pass) in hidden-state units; "
    "forward steps: the policy's cell evaluations, plain BPTT's T")


def trainer_line(spec: Any) -> str:
    """`trainer: accelerator auto, devices auto, nodes 1, strategy auto, ...` for the spec."""
    trainer = spec.trainer
    parts = [f"accelerator {trainer.accelerator}", f"devices {trainer.devices}",
             f"nodes {getattr(trainer, 'num_nodes', 1)}", f"strategy {trainer.strategy}",
             f"precision {trainer.precision}", f"logger {trainer.logger}"]
    if trainer.accumulate_grad_batches > 1:
        parts.append(f"gradients accumulated over {trainer.accumulate_grad_batches} batches")
    if trainer.gradient_clip_val is not None:
        parts.append(f"gradient norm clipped at {trainer.gradient_clip_val:g}")
    return "trainer: " + ", ".join(parts)


def scheduler_text(scheduler: Any) -> str:
    """One scheduler spec as a short phrase: `cosine after 50 steps of warmup, per step`."""
    if scheduler is None:
        return "constant rate"
    interval = scheduler.interval or ("step" if scheduler.type == "one_cycle" else "epoch")
    details = {
        "step": f" ×{scheduler.gamma:g} every {scheduler.step_size}",
        "plateau": f" ×{scheduler.gamma:g} after {scheduler.patience} flat epochs of "
                   f"{scheduler.monitor}",
        "cosine": f" over {scheduler.max_epochs} epochs" if scheduler.max_epochs else "",
        "one_cycle": f", {scheduler.pct_start:g} rising",
        "constant": "",
    }[scheduler.type]
    warmup = (f" after {scheduler.warmup} {interval}s of warmup from "
              f"{scheduler.warmup_start:g}×" if scheduler.warmup else "")
    return f"{scheduler.type}{details}{warmup}, per {interval}"


def optimizer_text(optimizer: Any) -> str:
    """The optimiser's type, rate and the options set away from their defaults."""
    defaults = type(optimizer).model_fields
    extras = [f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
              for name, value in optimizer
              if name not in ("type", "lr", "scheduler") and value != defaults[name].default]
    return " ".join([optimizer.type, f"lr {optimizer.lr:g}", *extras])


def phase_settings_table(spec: Any, plan: Plan) -> Table:
    """Per phase: optimiser, scheduler and tempering, each marked `(phase)` where the phase sets
    its own and `(trainer)` for a scheduler from `trainer.scheduler`."""
    table = Table(title="phase settings", title_justify="left",
                  caption="(phase): set by the phase itself; otherwise the spec's",
                  caption_justify="left")
    for column in ("phase", "optimiser", "scheduler", "tempering"):
        table.add_column(column)
    # Phases as written, by position (a phase's default name is made from its kind and position)
    # where the plan has one phase per entry, else by the names written.
    written = list(spec.schedule)
    phase_specs = (dict(zip((phase.name for phase in plan.phases), written))
                   if len(written) == len(plan.phases)
                   else {getattr(phase, "name", None): phase for phase in written})
    for phase in plan.phases:
        own = phase.optimizer != spec.optimizer
        optimizer = optimizer_text(phase.optimizer) + (" (phase)" if own else "")
        scheduler = getattr(phase.optimizer, "scheduler", None)
        from_trainer = scheduler is None and spec.trainer.scheduler is not None
        schedule = scheduler_text(scheduler or spec.trainer.scheduler)
        schedule += " (trainer)" if from_trainer else (" (phase)" if own and scheduler else "")
        phase_spec = phase_specs.get(phase.name)
        tempering = getattr(phase_spec, "tempering", None)
        rule = (f"{tempering.rule} (phase)" if tempering is not None
                else spec.tempering.rule if spec.tempering is not None else "none")
        literal_row(table, phase.name, optimizer, schedule, rule)
    return table


def phase_group_tables(spec: Any, plan: Plan) -> list[Table]:
    """The parameter groups of each phase whose groups differ from the spec-level ones, with
    each group's rate as a multiple of the spec's optimiser rate."""
    tables = []
    for phase in plan.phases:
        if not phase.parameter_groups or _rates(phase.parameter_groups) == _rates(
                plan.parameter_groups):
            continue
        table = Table(title=f"parameter groups of phase {phase.name}", title_justify="left")
        for column in ("group", "layers", "lr", "× spec rate", "weight decay", "params"):
            table.add_column(column, justify="left" if column in ("group", "layers") else "right")
        base = spec.optimizer.lr
        for group in phase.parameter_groups:
            layers = ", ".join(group.layers[:6]) + (
                f", … (+{len(group.layers) - 6})" if len(group.layers) > 6 else "")
            relative = f"{group.lr / base:.4g}" if base else "—"  # lr 0 is allowed (frozen)
            literal_row(table, group.name, layers, f"{group.lr:.4g}", relative,
                        f"{group.weight_decay:.3g}", f"{group.parameters:,}")
        tables.append(table)
    return tables


def _rates(groups: tuple[ParameterGroup, ...]) -> dict[tuple[str, str], tuple[float, float]]:
    """Each layer's (rate, weight decay) per parameter kind: what an optimiser would be given."""
    return {(layer, group.parameters_of): (group.lr, group.weight_decay)
            for group in groups for layer in group.layers}
