"""Command-line layer: `nndsl show`, the compiled spec as terminal tables.

Sections appear when the spec uses them: the network (repeated blocks folded as `enc1..enc4 ×4`,
cuts drawn as rules between units), the data, the phases with trainable / frozen /
re-initialised parameter counts, the optimiser parameter groups, the tempering table (effective
rate per layer as a multiple of η, the paper's Figure 1), the memory plan and the ensemble; the
trainer line and the per-phase optimiser, scheduler, tempering and rates come from
`nndsl.cli.show_training`, the memory plan's tables from `nndsl.cli.show_memory`.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from nndsl.api import Compiled
from nndsl.cli.render import literal_row
from nndsl.cli.show_training import (
    MEMORY_CAPTION,
    TEMPERING_CAPTION,
    phase_group_tables,
    phase_settings_table,
    trainer_line,
)
from nndsl.ir import Graph, GraphNode, Unit
from nndsl.layers import format_shape
from nndsl.plan import PhasePlan, Plan


def data_description(compiled: Compiled) -> str:
    """The data source's own description (`describe`, which may compute more than the signature)."""
    from nndsl.data.registry import DATA_SOURCES

    source = DATA_SOURCES.get(compiled.spec.data.source)
    describe = getattr(source, "describe", None)
    if describe is None:  # duck-typed plugin sources need not subclass DataSource
        return compiled.signature.description
    return describe(compiled.spec.data.options, Path(compiled.path).parent)


def data_footprint(compiled: Compiled) -> str:
    """Size on disk and planned training batches per epoch (`nndsl.data.data_plan`)."""
    from nndsl.data.data_plan import data_plan_line
    from nndsl.data.registry import DATA_SOURCES, DataSourceError

    data = compiled.spec.data
    seed = data.seed if data.seed is not None else compiled.spec.seed
    try:
        return data_plan_line(DATA_SOURCES.get(data.source), data, Path(compiled.path).parent,
                              seed, compiled.signature)
    except DataSourceError as error:  # found only by reading the data (lazy: when training)
        return f"batches not planned: {error.code} {error.message}"


def render_show(console: Console, compiled: Compiled) -> None:
    graph, plan, spec = compiled.graph, compiled.plan, compiled.spec
    assert graph is not None and plan is not None and spec is not None
    # Names, paths and data descriptions are user text: escaped, so `[...]` prints as written.
    console.print(f"[bold]{escape(spec.name)}[/bold]  ({escape(compiled.path)})")
    if compiled.signature is not None:
        scaled = ("; inputs standardised with training-split statistics"
                  if spec.data.standardize else "")
        console.print(f"data: [bold]{escape(spec.data.source)}[/bold] — "
                      f"{escape(data_description(compiled))}{scaled}")
        footprint = data_footprint(compiled)
        if footprint:
            console.print(f"      {escape(footprint)}")
    console.print(escape(trainer_line(spec)))
    console.print(network_table(graph, plan))
    if plan.phases:
        console.print(phase_table(plan))
        console.print(phase_settings_table(spec, plan))
    if plan.init is not None or any(phase.init or phase.stage for phase in plan.phases):
        from nndsl.cli.show_weights import weights_tables

        console.print(*weights_tables(plan))
    console.print(group_table(plan))
    for table in phase_group_tables(spec, plan):  # phases with their own rates
        console.print(table)
    if plan.tempering is not None:
        console.print(tempering_table(plan, TEMPERING_CAPTION))
    if plan.ensemble is not None:
        target = compiled.signature.target_kind if compiled.signature is not None else None
        console.print(ensemble_text(plan, target))
    if plan.memory is not None:
        from nndsl.cli.show_memory import memory_table

        console.print(memory_table(plan, MEMORY_CAPTION))
    from nndsl.cli.show_devices import needs_training_text, training_text

    if needs_training_text(spec):
        console.print(escape(training_text(spec)))
    if plan.loss_terms:
        from nndsl.cli.show_devices import loss_terms_text

        console.print(escape(loss_terms_text(spec, plan)))


def _folds(units: tuple[Unit, ...], graph: Graph) -> list[list[Unit]]:
    """Consecutive units from one block with equal layer types and output shapes fold into one
    row group (`enc1..enc4 ×4`), even when the first reads a narrower input than the rest."""
    def signature(unit: Unit) -> tuple:
        layers = [graph.node(node) for node in unit.nodes]
        return (unit.block, tuple((layer.type, layer.output_shape) for layer in layers))

    folds: list[list[Unit]] = []
    for unit in units:
        if folds and unit.block is not None and signature(folds[-1][-1]) == signature(unit):
            folds[-1].append(unit)
        else:
            folds.append([unit])
    return folds


# Lone layers repeating a pattern of up to MAX_PERIOD layers at least MIN_REPEATS times fold into
# one row group too (a generated deep MLP); shorter runs stay row by row, as written.
MAX_PERIOD, MIN_REPEATS = 3, 4


def _row_groups(graph: Graph) -> list[list[tuple[Unit, ...]]]:
    """The network table's row groups: each a list of repetitions, each repetition a tuple of
    units. Repeated blocks fold as `_folds` folds them (one unit per repetition); runs of lone
    layers that repeat a pattern (same types and output shapes) fold with one pattern per
    repetition. Linear in the number of units."""
    def signature(unit: Unit) -> tuple:
        layers = [graph.node(node) for node in unit.nodes]
        return (unit.block, tuple((layer.type, layer.output_shape) for layer in layers))

    groups: list[list[tuple[Unit, ...]]] = []
    folds = _folds(graph.units, graph)
    lone = [len(fold) == 1 and fold[0].block is None for fold in folds]
    signatures = [signature(fold[0]) if alone else None for fold, alone in zip(folds, lone)]
    index = 0
    while index < len(folds):
        best_period, best_repeats = 0, 0
        for period in range(1, MAX_PERIOD + 1) if lone[index] else ():
            repeats = 1
            while all(index + repeats * period + offset < len(folds)
                      and lone[index + repeats * period + offset]
                      and (signatures[index + repeats * period + offset]
                           == signatures[index + offset])
                      for offset in range(period)):
                repeats += 1
            if repeats >= MIN_REPEATS and repeats * period > best_repeats * best_period:
                best_period, best_repeats = period, repeats
        if best_period:
            groups.append([tuple(folds[index + repeat * best_period + offset][0]
                                 for offset in range(best_period))
                                 for repeat in range(best_repeats)])
            index += best_period * best_repeats
        else:
            groups.append([(unit,) for unit in folds[index]])
            index += 1
    return groups


def network_table(graph: Graph, plan: Plan) -> Table:
    table = Table(title=f"network — input {format_shape(graph.input_shape)}", title_justify="left")
    for column, justify in (("unit", "left"), ("layer", "left"), ("type", "left"),
                            ("output", "left"), ("params", "right"), ("fan-in", "right")):
        # fold, not crop: a layer name cut to `enc1.projecti…` no longer names the layer
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    cut_after: dict[str, list[str]] = {}
    for cut in plan.cuts:
        cut_after.setdefault(cut.extractor[-1], []).append(cut.name)
    for group in _row_groups(graph):
        first, count = group[0], len(group)
        label = first[0].name if count == 1 else f"{first[0].name}..{group[-1][-1].name} ×{count}"
        rows = 0
        for member, unit in enumerate(first):
            for position, node_name in enumerate(unit.nodes):
                node = graph.node(node_name)
                same = [graph.node(repetition[member].nodes[position]) for repetition in group]
                fan_in = "/".join(dict.fromkeys(_fan_in(layer) for layer in same))
                params = _counted([layer.parameter_count for layer in same])
                shown = node_name if count == 1 else \
                    node_name.replace(unit.name, f"{unit.name.rstrip('0123456789')}*", 1)
                literal_row(table, label if rows == 0 else "", shown, type_label(node.type),
                            format_shape(node.output_shape), params, fan_in)
                rows += 1
        ends = [unit.nodes[-1] for repetition in group for unit in repetition]
        cuts = [name for end in ends for name in cut_after.get(end, [])]
        if cuts:
            # one cut after each folded unit: `── C1..C4 ──  cut after each`
            each = count > 1 and all(len(cut_after.get(end, [])) == 1 for end in ends)
            rule = f"── {cuts[0]}..{cuts[-1]} ──" if each else f"── cut {', '.join(cuts)} ──"
            literal_row(table, Text(rule, style="cyan"),
                        Text("cut after each", style="dim") if each else "",
                          "", "", "", "", end_section=False)
    table.add_section()
    literal_row(table, "total", "", "", format_shape(graph.node(graph.output).output_shape),
                f"{graph.parameter_count:,}", "")
    return table


def type_label(layer_type: str) -> str:
    """The type column: plants (fixed systems after the network, never trained) are marked."""
    from nndsl.layers import LAYERS

    plant = layer_type in LAYERS and LAYERS.get(layer_type).plant
    return f"{layer_type} (plant, fixed)" if plant else layer_type


def _counted(counts: list[int]) -> str:
    """Parameter counts of one layer position across a fold: `205,120 ×4`, or
    `926,720` over `1,643,520 ×3` (two lines) when the first unit reads a different input."""
    runs: list[list[int]] = []
    for count in counts:
        if runs and runs[-1][0] == count:
            runs[-1][1] += 1
        else:
            runs.append([count, 1])
    if len(runs) == 1 and runs[0][0] == 0:
        return "0"
    return "\n".join(f"{count:,}" + (f" ×{times}" if times > 1 else "") for count, times in runs)


def _fan_in(node: GraphNode) -> str:
    """Inputs each unit of a weighted layer sums (a conv kernel's channels × window); blank for
    layers without weights, whose "fan-in" would mean nothing."""
    unweighted = ("embedding", "layer_norm", "batch_norm", "rms_norm", "positional_encoding")
    if node.parameter_count == 0 or node.type in unweighted:
        return ""
    if node.type in ("conv1d", "conv2d", "conv_transpose"):
        kernel = node.params.kernel
        window = kernel if isinstance(kernel, int) else kernel[0] * kernel[1]
        if node.type != "conv1d" and isinstance(kernel, int) and len(node.input_shapes[0]) == 3:
            window = kernel * kernel
        channels = int(node.input_shapes[0][0])
        groups = channels if node.params.groups == "depthwise" else node.params.groups
        return str(channels // groups * window)
    return ", ".join(str(shape[-1]) for shape in node.input_shapes)


def phase_table(plan: Plan) -> Table:
    table = Table(title="phases", title_justify="left")
    # Class selections and layer slots get a column only in schedules that use them.
    selecting = any(phase.classes is not None or phase.save or phase.restore
                    for phase in plan.phases)
    columns = ("phase", "cut", "train", "frozen", "re-init", "stops on",
               *(("data, slots",) if selecting else ()))
    for column in columns:
        table.add_column(column,
                         justify="right" if column in ("train", "frozen", "re-init") else "left")
    for phase in plan.phases:
        cut = phase.cut or ""
        if phase.search is not None:
            tried = phase.search.cuts
            if len(tried) > 8:  # hundreds of cuts of a deep network: the ends and the count
                ends = " → ".join([*tried[:3], "…", *tried[-2:]])
                cut = f"{ends} ({len(tried)} cuts, {phase.search.search})"
            else:
                cut = " → ".join(tried) + f" ({phase.search.search})"
        arrow = "↑" if phase.stop.mode == "max" else "↓"
        stop = f"{phase.stop.monitor}{arrow}"
        stop += f" p{phase.stop.patience}" if phase.stop.patience else ""
        stop += f" ≤{phase.stop.max_epochs}ep"
        if phase.kind == "evaluate":
            stop = "scores valid, test"
        literal_row(table, phase.name, cut, f"{phase.trainable_parameters:,}",
                    f"{phase.frozen_parameters:,}", f"{phase.reinitialised_parameters:,}", stop,
                    *((_selection_text(phase),) if selecting else ()))
    return table


def _selection_text(phase: PhasePlan) -> str:
    """A phase's classes (`5-9 → 0-4` when relabelled) and its restored and saved slots."""
    parts = []
    if phase.classes is not None:
        listed = ",".join(str(item) for item in phase.classes)
        renumbered = f" → 0-{len(phase.classes) - 1}" if phase.relabel else ""
        parts.append(f"classes {listed}{renumbered}")
    parts += [f"{item.slot} → {item.layer}" for item in phase.restore]
    parts += [f"{item.layer} → {item.slot}" for item in phase.save]
    return "; ".join(parts)


def group_table(plan: Plan) -> Table:
    table = Table(title="optimiser parameter groups", title_justify="left")
    for column in ("group", "layers", "lr", "weight decay", "params"):
        table.add_column(column,
                         justify="right" if column in ("lr", "weight decay", "params") else "left")
    for group in plan.parameter_groups:
        layers = ", ".join(group.layers[:6]) + (f", … (+{len(group.layers) - 6})"
                                                if len(group.layers) > 6 else "")
        literal_row(table, group.name, layers, f"{group.lr:.4g}", f"{group.weight_decay:.3g}",
                    f"{group.parameters:,}")
    return table


def tempering_table(plan: Plan, caption: str | None = None) -> Table:
    tempering = plan.tempering
    assert tempering is not None
    bound = f", bound η* = {tempering.global_lr_bound:.3g}" if tempering.global_lr_bound else ""
    table = Table(title=f"tempering ({tempering.rule}): η = {tempering.global_lr:.4g}{bound}"
                        + (", error shunting" if tempering.shunting else ""), title_justify="left",
                  caption=caption, caption_justify="left")
    for column in ("layer", "local rate η_j/η", "attenuation α", "effective rate"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for rate in tempering.layers:
        literal_row(table, rate.layer, f"{rate.rate_multiplier:.3f}",
                      "—" if rate.attenuation is None else f"{rate.attenuation:.3f}",
                      "undefined" if rate.effective_multiplier is None
                      else f"{rate.effective_multiplier:.3f} η")
    return table


def ensemble_text(plan: Plan, target_kind: str | None = "class") -> str:
    """The ensemble in a few lines: members, method, sharing, what is scored, execution and
    memory multiplier. What the backend logs depends on the data's target kind."""
    ensemble = plan.ensemble
    assert ensemble is not None
    method = {"smcl": f"sMCL oracle loss, gradient to the best {ensemble.k} member(s) per example",
              "bagging": "bagging: each member trains on its own bootstrap sample",
              "independent": "independent members (different seeds)"}[ensemble.method]
    sharing = (f"members share the extractor below {escape(ensemble.share)} "
               f"({len(ensemble.shared_layers)} layers); {len(ensemble.member_layers)} layers per "
               f"member") if ensemble.share else "no shared layers"
    execution = ("vectorised (torch.func)" if ensemble.vectorised
                 else f"looped: {escape(str(ensemble.fallback_reason))}")
    return (f"[bold]ensemble[/bold]: {ensemble.members} members — {method}\n"
            f"  {sharing}; {_ensemble_scores(ensemble.combine, target_kind)}; {execution}\n"
            f"  parameters ×{ensemble.memory_multiplier:.2f} of one network; member seeds "
            + ", ".join(str(seed) for seed in ensemble.seeds))


def _ensemble_scores(combine: str, target_kind: str | None) -> str:
    """What an ensemble run scores, as the ensemble module computes it."""
    if target_kind != "class":
        return "scored by the members' loss only (a combined prediction is scored for classes)"
    combined = "mean of the members' probabilities" if combine == "mean" else "majority vote"
    return (f"valid/accuracy scores the {combined}; valid/oracle_accuracy counts an example "
            "right when any member is")
