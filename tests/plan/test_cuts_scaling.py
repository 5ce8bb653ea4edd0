"""Cuts and top-down attempts computed in linear time equal what the set-based definitions give:
the planner against the original implementation (kept below as the oracle), on networks whose
topological order differs from the written order, on branching graphs, named and selector cuts,
and on a deep `cuts: units` network."""

from __future__ import annotations

from nndsl.api import compile_spec
from nndsl.diagnostics import DiagnosticList, StageContext
from nndsl.ir import Graph
from nndsl.plan.layer_sets import layer_order
from nndsl.plan.phases import _distinct_attempts
from nndsl.plan.plan import CutPlan
from nndsl.plan.regions import plan_cuts, select

HEAD = """nndsl: 1
name: t
data: {source: digits}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""


def reference_cuts(spec, graph: Graph, locate, diagnostics) -> tuple[CutPlan, ...]:
    """The original definition: extractor sets, membership tests, every edge checked per cut."""
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
                    extractors[name] |= set(select(selector, graph, {}, None, diagnostics))
    plans = []
    for name, extractor in extractors.items():
        classifier = [node for node in graph.order if node not in extractor]
        crossing = [(source, target) for source, target, _ in graph.edges
                    if source in classifier and target in extractor]
        if crossing:
            diagnostics.add("E601", f"{name} crossing {crossing[0]}", None)
            continue
        if not extractor or not classifier:
            diagnostics.add("E601", f"{name} empty", None)
            continue
        ordered = tuple(node for node in graph.order if node in extractor)
        plans.append(CutPlan(name, ordered, tuple(classifier),
                             sum(graph.node(node).parameter_count for node in ordered),
                             sum(graph.node(node).parameter_count for node in classifier)))
    return tuple(plans)


def reference_attempts(graph: Graph, cuts: list[CutPlan]) -> tuple[str, ...]:
    attempts, previous = [], None
    for cut in cuts:
        trained = {node for node in cut.extractor if graph.node(node).parameter_count > 0}
        if trained and trained != previous:
            attempts.append(cut.name)
        previous = trained
    return tuple(attempts)


def _listed(cut: CutPlan) -> tuple:
    """A cut with its layer sets as name tuples (the reference lists names)."""
    return (cut.name, tuple(cut.extractor), tuple(cut.classifier), cut.extractor_parameters,
            cut.classifier_parameters)


def compare(text: str) -> tuple[tuple[CutPlan, ...], list[str]]:
    compiled = compile_spec("spec.yaml", text=HEAD + text)
    assert compiled.graph is not None, compiled.diagnostics
    planned, reference = DiagnosticList(), DiagnosticList()
    cuts = plan_cuts(compiled.spec, compiled.graph, StageContext(lambda path: None, planned))
    assert [_listed(cut) for cut in cuts] == [
        _listed(cut) for cut in reference_cuts(compiled.spec, compiled.graph, lambda path: None, reference)]
    assert [item.code for item in planned.items] == [item.code for item in reference.items]
    # the diagnostics name the same cuts (the reference's messages are shorter)
    assert [item.message.split("`")[1] for item in planned.items] == [item.message.split()[0] for item in reference.items]
    top_first = sorted(cuts, key=lambda cut: len(cut.extractor), reverse=True)
    assert _distinct_attempts(layer_order(compiled.graph), top_first) == reference_attempts(compiled.graph, top_first)
    return cuts, [item.code for item in planned.items]


def test_units_cuts_on_a_branching_network():
    cuts, codes = compare("""network:
  layers:
    - {name: a, type: linear, units: 16, activation: tanh}
    - {name: b, type: linear, units: 16, activation: tanh}
    - {name: skip, type: concat, inputs: [a, b]}
    - {name: drop, type: dropout, p: 0.1}
    - {name: c, type: linear, units: 16}
    - {name: out, type: linear, units: 10}
cuts: units
""")
    assert [cut.name for cut in cuts] == ["C1", "C2", "C3", "C4", "C5"] and codes == []


def test_written_order_differs_from_topological_order():
    # `late` is written before `early` but reads it: the topological order puts `early` first,
    # so the first units are no prefix of it and their cut is crossed (E601), as before.
    cuts, codes = compare("""network:
  layers:
    - {name: first, type: linear, units: 16}
    - {name: late, type: linear, units: 16, inputs: [early]}
    - {name: early, type: linear, units: 16, inputs: [first]}
    - {name: join, type: add, inputs: [late, early]}
    - {name: out, type: linear, units: 10}
cuts: units
""")
    assert "E601" in codes and [cut.name for cut in cuts] == ["C1", "C3", "C4"]


def test_named_and_selector_cuts():
    cuts, codes = compare("""network:
  layers:
    - {name: low, type: linear, units: 32, activation: tanh}
    - {name: high, type: linear, units: 32, activation: tanh}
    - {name: skip, type: concat, inputs: [low, high]}
    - {name: out, type: linear, units: 10}
cuts:
  after_low: {after: low}
  above_high: {extractor: [high]}
  both: {extractor: [low, "hi*"]}
  by_type: {extractor: ["type:linear"]}
""")
    assert [cut.name for cut in cuts] == ["after_low", "both"] and codes == ["E601", "E601"]


def test_a_deep_units_network():
    layers = "".join(f"    - {{name: l{index}, type: {'dropout, p: 0.1' if index % 3 == 0 else 'linear, units: 8'}}}\n"
                     for index in range(1, 300))
    cuts, codes = compare("network:\n  layers:\n" + layers + "    - {name: out, type: linear, units: 10}\ncuts: units\n")
    assert len(cuts) == 299 and codes == []
