"""Plan stage: cuts as layer sets, and selectors resolved against the graph.

A cut C_i of `cuts: units` puts units 1..i (nearest the input) in the extractor and the rest in
the classifier. Every cut must separate the graph: no edge may run from a classifier layer back
into an extractor layer (E601).
"""

from __future__ import annotations

from collections.abc import Callable

from nndsl.diagnostics import DiagnosticList, Span
from nndsl.ir import INPUT, Graph
from nndsl.plan.plan import CutPlan
from nndsl.spec import Selector, Spec

Locator = Callable[[tuple[str | int, ...]], Span | None]


def plan_cuts(spec: Spec, graph: Graph, locate: Locator, diagnostics: DiagnosticList) -> tuple[CutPlan, ...]:
    """Every cut of the spec as extractor/classifier layer sets."""
    if spec.cuts is None:
        return ()
    extractors: dict[str, set[str]] = {}
    if spec.cuts == "units":
        below: set[str] = set()
        for index, unit in enumerate(graph.units[:-1], start=1):
            below |= set(unit.nodes)
            extractors[f"C{index}"] = set(below)
    else:
        unit_index = {unit.name: index for index, unit in enumerate(graph.units)}
        for name, cut in spec.cuts.items():
            if cut.after is not None and cut.after in unit_index:
                extractors[name] = {node for unit in graph.units[: unit_index[cut.after] + 1] for node in unit.nodes}
            elif cut.extractor is not None:
                extractors[name] = set()
                for position, selector in enumerate(cut.extractor):
                    matched = select(selector, graph, {}, locate(("cuts", name, "extractor", position)), diagnostics)
                    extractors[name] |= set(matched)
    plans = []
    for name, extractor in extractors.items():
        classifier = [node for node in graph.order if node not in extractor]
        crossing = [(source, target) for source, target, _ in graph.edges
                    if source in classifier and target in extractor]
        span = locate(("cuts", name)) or locate(("cuts",))
        if crossing:
            source, target = crossing[0]
            diagnostics.add("E601", f"cut `{name}` does not separate the graph: classifier layer `{source}` "
                            f"feeds extractor layer `{target}`", span,
                            "put every layer that feeds the extractor into the extractor")
            continue
        if not extractor or not classifier:
            diagnostics.add("E601", f"cut `{name}` leaves the {'extractor' if not extractor else 'classifier'} empty",
                            span, "a cut needs layers on both sides")
            continue
        ordered = tuple(node for node in graph.order if node in extractor)
        plans.append(CutPlan(name, ordered, tuple(classifier),
                             sum(graph.node(node).parameter_count for node in ordered),
                             sum(graph.node(node).parameter_count for node in classifier)))
    return tuple(plans)


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
                        hint or "selectors: all, NAME-GLOB, type:TYPE, extractor:CUT, classifier:CUT")
    return tuple(name for name in graph.order if name in set(matched) and name != INPUT)
