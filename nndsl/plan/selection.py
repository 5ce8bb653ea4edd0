"""Plan stage: each phase's class selection and layer slots, checked against the graph.

In: the spec, the graph and the planned phases. Out: the phases with `classes`, `relabel`,
`restore` and `save` filled in (`PhasePlan`), which the run stage carries out and plan.json
records. Errors found here: a saved or restored layer that is not in the network, holds no
parameters or belongs to an ensemble (E627), a slot restored into a layer of another kind or size
than it was saved from (E628), an output narrower than the classes a phase selects (E629), and a
layer a phase both
restores and re-initialises (E474).
"""

from __future__ import annotations

from nndsl.diagnostics import DiagnosticList, Locator, Span, StageContext, did_you_mean
from nndsl.ir import Graph
from nndsl.layers import format_shape
from nndsl.plan.plan import LayerSlot, PhasePlan
from nndsl.records import replace
from nndsl.spec import Spec
from nndsl.spec.selection import SelectionFields

def plan_selections(
    spec: Spec, graph: Graph, phases: tuple[PhasePlan, ...], context: StageContext
) -> tuple[PhasePlan, ...]:
    """The phases with their class selections and slots; problems go to `context.diagnostics`."""
    locate, diagnostics = context.locate, context.diagnostics
    from nndsl.plan.phases import _default_name  # the phase naming rule, kept in one place

    by_name = {phase.name: phase for phase in phases}
    saved_from: dict[str, str] = {}  # slot -> the layer it was last saved from
    planned: dict[str, PhasePlan] = {}
    for index, phase_spec in enumerate(spec.schedule):
        name = phase_spec.name or _default_name(phase_spec.phase, index, spec)
        phase = by_name.get(name)
        if phase is None or not isinstance(phase_spec, SelectionFields):
            continue
        if spec.ensemble is not None and (phase_spec.save or phase_spec.restore):
            field = "save" if phase_spec.save else "restore"
            diagnostics.add(
                "E627",
                "layers of an ensemble's members cannot be saved or restored",
                locate(("schedule", index, field)),
                f"remove `{field}`, or train without `ensemble:`",
            )
            continue
        restore = _slots(
            phase_spec.restore, graph, ("schedule", index, "restore"), locate, diagnostics
        )
        for item in restore:
            where = locate(("schedule", index, "restore", item.layer))
            source = saved_from.get(item.slot)
            if source is not None and not _same_kind(graph, source, item.layer):
                diagnostics.add(
                    "E628",
                    f"slot `{item.slot}` holds `{source}` "
                    f"({_describe(graph, source)}); it does not fit `{item.layer}` "
                    f"({_describe(graph, item.layer)})",
                    where,
                    "restore a slot into a layer of the same type and shapes",
                )
            if item.layer in phase.reinitialised:
                diagnostics.add(
                    "E474",
                    f"phase `{name}` restores `{item.layer}` and also re-initialises it",
                    where,
                    "restore it, or re-initialise it, not both",
                )
        save = _slots(phase_spec.save, graph, ("schedule", index, "save"), locate, diagnostics)
        saved_from.update((item.slot, item.layer) for item in save)
        if phase_spec.classes is not None:
            _check_width(
                graph, name, phase_spec, locate(("schedule", index, "classes")), diagnostics
            )
        planned[name] = replace(
            phase,
            classes=phase_spec.classes,
            relabel=phase_spec.relabel,
            restore=restore,
            save=save,
        )
    return tuple(planned.get(phase.name, phase) for phase in phases)


def _slots(
    mapping: dict[str, str],
    graph: Graph,
    path: tuple[str | int, ...],
    locate: Locator,
    diagnostics: DiagnosticList,
) -> tuple[LayerSlot, ...]:
    """The mapping's (layer, slot) pairs whose layer exists and holds parameters (E627)."""
    slots = []
    names = set(graph.order)
    for layer, slot in mapping.items():
        if layer not in names:
            diagnostics.add(
                "E627",
                f"`{layer}` is not a layer of the network",
                locate((*path, layer)),
                did_you_mean(layer, names)
                or "name a layer (groups and blocks are expanded: use the layer's own name)",
            )
        elif graph.node(layer).parameter_count == 0:
            diagnostics.add(
                "E627",
                f"`{layer}` ({graph.node(layer).type}) holds no parameters to save or restore",
                locate((*path, layer)),
                "name a layer with weights, such as a linear layer",
            )
        else:
            slots.append(LayerSlot(layer, slot))
    return tuple(slots)


def _same_kind(graph: Graph, first: str, second: str) -> bool:
    one, other = graph.node(first), graph.node(second)
    return (one.type, one.params, tuple(one.input_shapes), one.output_shape) == (
        other.type,
        other.params,
        tuple(other.input_shapes),
        other.output_shape,
    )


def _describe(graph: Graph, name: str) -> str:
    node = graph.node(name)
    inputs = ", ".join(format_shape(shape) for shape in node.input_shapes)
    return (
        f"{node.type}, {inputs} → {format_shape(node.output_shape)}, "
        f"{node.parameter_count:,} parameters"
    )


def _check_width(
    graph: Graph, name: str, phase: SelectionFields, span: Span | None, diagnostics: DiagnosticList
) -> None:
    """The output has a score for every target the selection produces (E629)."""
    assert phase.classes is not None
    output = graph.node(graph.output)
    width = output.output_shape[-1] if output.output_shape else None
    if not isinstance(width, int):
        return
    needed = len(phase.classes) if phase.relabel else max(phase.classes) + 1
    if width < needed:
        reason = (
            f"{len(phase.classes)} relabelled classes"
            if phase.relabel
            else f"class {max(phase.classes)} (targets keep their numbers without `relabel`)"
        )
        diagnostics.add(
            "E629",
            f"phase `{name}` selects {reason}, but the output `{output.name}` has {width} scores",
            span,
            f"give `{output.name}` {needed} units"
            + ("" if phase.relabel else ", or add `relabel: true`"),
        )
