"""Plan stage: cuts as layer sets (ranges of the graph order), and selectors resolved against
the graph.

A cut C_i of `cuts: units` puts units 1..i (nearest the input) in the extractor and the rest in
the classifier. Every cut must separate the graph: no edge may run from a classifier layer back
into an extractor layer (E601).
"""

from __future__ import annotations

from nndsl.diagnostics import DiagnosticList, Span, StageContext
from nndsl.ir import INPUT, Graph
from nndsl.plan.layer_sets import LayerSet, layer_order
from nndsl.plan.plan import CutPlan
from nndsl.spec import Selector, Spec


def plan_cuts(spec: Spec, graph: Graph, context: StageContext) -> tuple[CutPlan, ...]:
    """Every cut of the spec as extractor/classifier layer sets.

    Linear in the layers: `cuts: units` on an n-layer network has n-1 cuts, each extractor a set
    of whole units that nothing outside feeds, hence a prefix of the topological order: one
    range of positions (`LayerSet`), its classifier the rest. No cut lists its layers.
    """
    locate, diagnostics = context.locate, context.diagnostics
    if spec.cuts is None:
        return ()
    order = layer_order(graph)
    plans: list[CutPlan] = []
    if spec.cuts == "units":
        count, highest = 0, -1  # layers below the cut, and the highest position among them
        below: list[int] = []  # positions of the layers below the cut, kept only off prefixes
        for index, unit in enumerate(graph.units[:-1], start=1):
            count += len(unit.nodes)
            positions = [order.position[node] for node in unit.nodes]
            highest = max(highest, max(positions, default=-1))
            below.extend(positions)
            name = f"C{index}"
            span = locate(("cuts", name)) or locate(("cuts",))
            if highest < count:  # checked per unit, so the cuts cost linear time together
                plans.extend(_checked(name, order.span(0, count), span, diagnostics))
            else:
                plans.extend(_cut(name, order.at(below), graph, span, diagnostics))
        return tuple(plans)
    unit_index = {unit.name: index for index, unit in enumerate(graph.units)}
    for name, cut in spec.cuts.items():
        extractor: list[str] = []
        if cut.after is not None and cut.after in unit_index:
            extractor = [node for unit in graph.units[: unit_index[cut.after] + 1]
                         for node in unit.nodes]
        elif cut.extractor is not None:
            for selector_position, selector in enumerate(cut.extractor):
                span = locate(("cuts", name, "extractor", selector_position))
                extractor.extend(select(selector, graph, {}, span, diagnostics))
        else:
            continue
        plans.extend(_cut(name, order.of(extractor), graph,
                          locate(("cuts", name)) or locate(("cuts",)), diagnostics))
    return tuple(plans)


def _cut(name: str, extractor: LayerSet, graph: Graph, span: Span | None,
         diagnostics: DiagnosticList) -> list[CutPlan]:
    """One cut (a one-element list), or none after an E601 diagnostic.

    A prefix of the topological order separates the graph: no edge can enter it from outside.
    Any other set is checked edge by edge (it separates the graph only if no edge enters it).
    """
    if not extractor.is_prefix:
        crossing = next(((source, target) for source, target, _ in graph.edges
                         if target in extractor and source not in extractor and source != INPUT),
                        None)
        if crossing is not None:
            source, target = crossing
            diagnostics.add("E601", f"cut `{name}` does not separate the graph: classifier layer "
                            f"`{source}` feeds extractor layer `{target}`", span,
                            "put every layer that feeds the extractor into the extractor")
            return []
    return _checked(name, extractor, span, diagnostics)


def _checked(name: str, extractor: LayerSet, span: Span | None,
             diagnostics: DiagnosticList) -> list[CutPlan]:
    """The cut, or none after E601 when one side is empty."""
    classifier = extractor.complement()
    if not extractor or not classifier:
        empty = "extractor" if not extractor else "classifier"
        diagnostics.add("E601", f"cut `{name}` leaves the {empty} empty", span,
                        "a cut needs layers on both sides")
        return []
    return [CutPlan(name, extractor, classifier, extractor.parameters, classifier.parameters)]


def select(selector: Selector, graph: Graph, cuts: dict[str, CutPlan], span: Span | None,
           diagnostics: DiagnosticList) -> tuple[str, ...]:
    """The layers a selector picks, in graph order; E404 when it picks none."""
    if selector.kind == "all":
        matched = list(graph.order)
    elif selector.kind == "name":
        matched = graph.match_names(selector.argument)
    elif selector.kind == "type":
        matched = graph.match_type(selector.argument)
    else:
        cut = cuts.get(selector.argument)
        if cut is None:
            return ()  # a missing cut is reported by the check stage
        matched = list(cut.extractor if selector.kind == "extractor" else cut.classifier)
    if not matched:
        from nndsl.diagnostics import did_you_mean
        hint = did_you_mean(selector.argument, [*graph.order, *(unit.name for unit in graph.units)])
        diagnostics.add("E404", f"selector `{selector}` matches no layer", span,
                        hint or "selectors: all, NAME-GLOB, type:TYPE, extractor:CUT, "
                                "classifier:CUT")
    chosen = set(matched)  # built once: a membership test per layer, not a list scan
    return tuple(name for name in graph.order if name in chosen and name != INPUT)
