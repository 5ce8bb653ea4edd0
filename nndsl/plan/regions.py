"""Plan stage: cuts as layer sets, and selectors resolved against the graph.

A cut C_i of `cuts: units` puts units 1..i (nearest the input) in the extractor and the rest in
the classifier. Every cut must separate the graph: no edge may run from a classifier layer back
into an extractor layer (E601).
"""

from __future__ import annotations

from nndsl.diagnostics import DiagnosticList, Span, StageContext
from nndsl.ir import INPUT, Graph
from nndsl.plan.plan import CutPlan
from nndsl.spec import Selector, Spec


def plan_cuts(spec: Spec, graph: Graph, context: StageContext) -> tuple[CutPlan, ...]:
    """Every cut of the spec as extractor/classifier layer sets.

    Linear in the layers per cut: `cuts: units` on an n-layer network has n-1 cuts whose layer
    lists are slices of the graph order (each cut's extractor, a set of whole units that nothing
    outside feeds, is a prefix of the topological order), so no cut tests membership in a list.
    """
    locate, diagnostics = context.locate, context.diagnostics
    if spec.cuts is None:
        return ()
    position = {name: index for index, name in enumerate(graph.order)}
    # parameters_below[i]: parameters of the first i layers in graph order (prefix sums).
    parameters_below = [0]
    for name in graph.order:
        parameters_below.append(parameters_below[-1] + graph.node(name).parameter_count)
    plans: list[CutPlan] = []
    if spec.cuts == "units":
        count, highest = 0, -1  # layers below the cut, and the highest position among them
        for index, unit in enumerate(graph.units[:-1], start=1):
            count += len(unit.nodes)
            highest = max(highest, max((position[node] for node in unit.nodes), default=-1))
            name = f"C{index}"
            span = locate(("cuts", name)) or locate(("cuts",))
            if highest < count:  # checked per unit, so the cuts cost linear time together
                plans.extend(_prefix_cut(name, count, graph, parameters_below, span, diagnostics))
            else:
                below = [node for earlier in graph.units[:index] for node in earlier.nodes]
                plans.extend(_cut(name, below, graph, position, parameters_below, span,
                                  diagnostics))
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
        plans.extend(_cut(name, extractor, graph, position, parameters_below,
                          locate(("cuts", name)) or locate(("cuts",)), diagnostics))
    return tuple(plans)


def _cut(name: str, extractor: list[str], graph: Graph, position: dict[str, int],
         parameters_below: list[int], span: Span | None, diagnostics: DiagnosticList) -> list[CutPlan]:
    """One cut (a one-element list), or none after an E601 diagnostic.

    A set of k layers whose positions in the topological order all lie below k is that order's
    first k layers: no edge can enter it from outside, and its lists are slices of the order.
    Any other set is checked edge by edge (it separates the graph only if no edge enters it).
    """
    positions = {position[node] for node in extractor}
    if positions and max(positions) < len(positions):
        return _prefix_cut(name, len(positions), graph, parameters_below, span, diagnostics)
    members = {graph.order[index] for index in positions}
    crossing = next(((source, target) for source, target, _ in graph.edges
                     if target in members and source not in members and source != INPUT), None)
    if crossing is not None:
        source, target = crossing
        diagnostics.add("E601", f"cut `{name}` does not separate the graph: classifier layer "
                        f"`{source}` feeds extractor layer `{target}`", span,
                        "put every layer that feeds the extractor into the extractor")
        return []
    ordered = tuple(graph.order[index] for index in sorted(positions))
    classifier = tuple(node for node in graph.order if node not in members)
    extractor_parameters = sum(graph.node(node).parameter_count for node in ordered)
    return _checked(name, ordered, classifier, extractor_parameters, parameters_below[-1], span,
                    diagnostics)


def _prefix_cut(name: str, size: int, graph: Graph, parameters_below: list[int], span: Span | None,
                diagnostics: DiagnosticList) -> list[CutPlan]:
    """The cut whose extractor is the first `size` layers of the topological order."""
    return _checked(name, graph.order[:size], graph.order[size:], parameters_below[size],
                    parameters_below[-1], span, diagnostics)


def _checked(name: str, extractor: tuple[str, ...], classifier: tuple[str, ...],
             extractor_parameters: int, total_parameters: int, span: Span | None,
             diagnostics: DiagnosticList) -> list[CutPlan]:
    """The cut, or none after E601 when one side is empty."""
    if not extractor or not classifier:
        empty = "extractor" if not extractor else "classifier"
        diagnostics.add("E601", f"cut `{name}` leaves the {empty} empty", span,
                        "a cut needs layers on both sides")
        return []
    return [CutPlan(name, extractor, classifier, extractor_parameters,
                    total_parameters - extractor_parameters)]


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
    chosen = set(matched)  # built once: a membership test per layer, not a list scan
    return tuple(name for name in graph.order if name in chosen and name != INPUT)
