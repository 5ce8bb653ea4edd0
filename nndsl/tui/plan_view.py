"""TUI: the plan for the selected phase — phases, parameter groups, tempering, memory, ensemble.

In: a `Compiled` and the selected `PhaseStep`. Out: rich tables in a scrolling pane. The phase,
tempering, memory and ensemble renderings are `nndsl show`'s own (the selected phase's row
highlighted). The parameter groups are the phase's planned optimiser groups (its own optimiser
rate and tempering rule) restricted, as the backend restricts them, to the layers the step
trains. The memory-plan and ensemble sections appear only when the plan has them.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from nndsl.api import Compiled
from nndsl.cli.show import ensemble_text, phase_table, tempering_table
from nndsl.cli.show_memory import memory_table
from nndsl.plan import Plan
from nndsl.tui.panes import STATE_STYLES, PhaseBar
from nndsl.tui.phase_steps import FROZEN, PhaseStep


def step_groups(compiled: Compiled, step: PhaseStep) -> RenderableType:
    """The optimiser parameter groups of one step, with the rates that step trains at."""
    plan, graph = compiled.plan, compiled.graph
    assert plan is not None and graph is not None
    groups = step.phase.parameter_groups or plan.parameter_groups
    optimizer = step.phase.optimizer
    table = Table(
        title=f"parameter groups in {step.title} — {optimizer.type}, lr {optimizer.lr:.4g}",
        title_justify="left",
    )
    for column in ("group", "trained layers", "lr", "decay", "params"):
        justify = "left" if column in ("group", "trained layers") else "right"
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for group in groups:
        layers = [name for name in group.layers if step.state(name) != FROZEN]
        if not layers:
            continue
        shown = ", ".join(layers[:4]) + (f", … (+{len(layers) - 4})" if len(layers) > 4 else "")
        if len(layers) == len(group.layers):
            parameters = f"{group.parameters:,}"
        elif group.parameters_of == "all":
            parameters = f"{sum(graph.node(name).parameter_count for name in layers):,}"
        else:  # the graph counts whole layers, not their weights or biases alone
            parameters = f"part of {group.parameters:,}"
        table.add_row(Text(group.name), Text(shown), f"{group.lr:.4g}", f"{group.weight_decay:.3g}",
                      parameters)
    frozen = [
        name
        for name in graph.order
        if step.state(name) == FROZEN and graph.node(name).parameter_count > 0
    ]
    if not frozen:
        return table
    note = Text("frozen, outside the optimiser: ", style=STATE_STYLES[FROZEN])
    note.append(", ".join(frozen[:8]) + (f", … (+{len(frozen) - 8})" if len(frozen) > 8 else ""))
    return Group(table, note)


SECTIONS = ("groups", "phases", "tempering", "memory", "ensemble", "notes")


class PlanPane(Vertical):
    """The phase bar over a scrolling column of plan tables."""

    def compose(self) -> ComposeResult:
        yield PhaseBar(id="plan-phase")
        with VerticalScroll(id="plan-scroll"):
            yield Static(id="plan-empty", classes="empty")
            for name in SECTIONS:
                yield Static(id=f"plan-{name}", classes="plan-table")

    def show(
        self, compiled: Compiled, steps: list[PhaseStep], position: int, reason: str | None
    ) -> None:
        """Fill the tables for `steps[position]`; `reason` says why there is no plan."""
        plan: Plan | None = compiled.plan
        self.query_one(PhaseBar).show(steps, position, reason)
        empty = self.query_one("#plan-empty", Static)
        empty.display = plan is None
        empty.update(Text(reason or "", style="italic"))
        step = steps[position] if steps else None
        sections: dict[str, RenderableType | None] = dict.fromkeys(SECTIONS)
        if plan is not None:
            sections.update(
                groups=step_groups(compiled, step) if step is not None else None,
                phases=self._phases(plan, step) if plan.phases else None,
                tempering=tempering_table(plan) if plan.tempering is not None else None,
                memory=memory_table(plan) if plan.memory is not None else None,
                ensemble=Text.from_markup(ensemble_text(plan)) if plan.ensemble else None,
                notes=Text("\n".join(plan.notes), style="dim") if plan.notes else None,
            )
        for name, renderable in sections.items():
            widget = self.query_one(f"#plan-{name}", Static)
            widget.display = renderable is not None
            widget.update(renderable if renderable is not None else "")

    @staticmethod
    def _phases(plan: Plan, step: PhaseStep | None) -> Table:
        table = phase_table(plan)
        if step is not None:
            table.rows[step.index].style = "bold on grey23"
        return table
