"""Command-line layer: what `nndsl show` says about `init_from:` and gradual unfreezing.

In: the plan. Out: rich tables: per `init_from` (the spec's, then each phase's), the file read
and which checkpoint layer loads into which layer; per `gradual_unfreeze` phase, its stages with
what each unfreezes, its epochs and its learning rate.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from nndsl.cli.render import literal_row
from nndsl.plan import InitPlan, Plan

#: Rows listed per `init_from` before the rest is counted in one line (very deep networks).
_SHOWN_LAYERS = 12


def weights_tables(plan: Plan) -> list[Table]:
    """The tables for the plan's `init_from`s and gradual-unfreezing stages (none if unused)."""
    tables = []
    if plan.init is not None:
        tables.append(init_table(plan.init, "before the first phase"))
    tables.extend(init_table(phase.init, f"at the start of phase {phase.name}")
                  for phase in plan.phases if phase.init is not None)
    if any(phase.stage is not None for phase in plan.phases):
        tables.append(stage_table(plan))
    return tables


def init_table(init: InitPlan, when: str) -> Table:
    """Which checkpoint layer loads into which layer, and from which file."""
    kind = {"run": "run directory", "lightning": "Lightning checkpoint",
            "state_dict": "state dict"}[init.format]
    # A Text title: the path is user text, not markup.
    layout = ("" if init.layout == "nndsl" else
              ", another key layout: tensors paired by last name")
    stripped = f", keys after `{init.strip_prefix}`" if init.strip_prefix else ""
    table = Table(title=Text(f"init_from {init.source} ({kind}: {init.file}{stripped}{layout}), "
                             f"{when}"), title_justify="left")
    for column in ("layer", "from", "tensors", "params"):
        table.add_column(column, justify="right" if column == "params" else "left")
    if not init.checked:
        literal_row(table, "(checked when training starts: the file does not exist yet)",
                    "", "", "")
        return table
    for layer in init.layers[:_SHOWN_LAYERS]:
        origin = "same name" if layer.source == layer.layer else layer.source
        literal_row(table, layer.layer, origin, ", ".join(layer.tensors), f"{layer.parameters:,}")
    hidden = init.layers[_SHOWN_LAYERS:]
    if hidden:
        literal_row(table, f"… {len(hidden)} more layers", "", "",
                    f"{sum(layer.parameters for layer in hidden):,}")
    literal_row(table, "total", "", "", f"{init.parameters:,}")
    return table


def stage_table(plan: Plan) -> Table:
    """Each stage of gradual unfreezing: what it unfreezes, its epochs and its rate."""
    table = Table(title="gradual unfreezing", title_justify="left")
    for column in ("phase", "stage", "unfreezes", "epochs", "lr", "× rate"):
        table.add_column(column, justify="right" if column in ("epochs", "lr", "× rate")
                         else "left")
    for phase in plan.phases:
        stage = phase.stage
        if stage is None:
            continue
        literal_row(table, phase.name, f"{stage.number}/{stage.stages}",
                    ", ".join(stage.unfrozen), str(phase.stop.max_epochs),
                    f"{phase.optimizer.lr:.4g}", f"{stage.lr_multiplier:g}")
    return table
