"""Layer sets as ranges of the graph order: they read like tuples of names, convert to and from
plan.json, and keep a plan of n cuts (and a top-down search over them) linear in size."""

from __future__ import annotations

import json
import pickle

import pytest

from nndsl.api import compile_spec
from nndsl.plan.layer_sets import LISTED_RUN, LayerOrder, read_layer_set


def spec_text(layers: int, schedule: str = "") -> str:
    hidden = "".join(f"    - {{name: h{index}, type: linear, units: 4, activation: tanh}}\n"
                     for index in range(1, layers))
    return ("nndsl: 1\nname: sets\ndata: {source: digits}\nnetwork:\n  layers:\n" + hidden
            + "    - {name: out, type: linear, units: 10}\ncuts: units\n"
            + "loss: {type: cross_entropy}\n"
            + "optimizer: {type: sgd, lr: 0.1}\n" + schedule)


TOP_DOWN = "schedule:\n  - {phase: joint}\n  - {phase: top_down}\n  - {phase: retrain_classifier}\n"


@pytest.fixture(scope="module")
def order() -> LayerOrder:
    compiled = compile_spec("spec.yaml", text=spec_text(12))
    assert compiled.ok, compiled.diagnostics
    return LayerOrder(compiled.graph)


def test_a_set_reads_like_the_tuple_of_its_names_in_graph_order(order):
    names = order.names
    chosen = order.of([names[5], names[0], names[1], names[5], names[9]])
    assert chosen.ranges == ((0, 2), (5, 6), (9, 10))
    assert chosen.names == tuple(chosen) == (names[0], names[1], names[5], names[9])
    assert len(chosen) == 4 and chosen[2] == names[5] and chosen[-1] == names[9]
    assert chosen[1:3] == (names[1], names[5])
    assert names[5] in chosen and names[4] not in chosen and "nothing" not in chosen
    with pytest.raises(IndexError):
        chosen[4]
    assert not chosen.is_prefix and order.span(0, 3).is_prefix and order.span(0, 0).is_prefix


def test_complement_parameters_equality(order):
    chosen = order.of([order.names[2], order.names[3]])
    rest = chosen.complement()
    assert rest.names == order.names[:2] + order.names[4:]
    assert chosen.complement().complement() == chosen and hash(chosen) == hash(order.span(2, 4))
    assert chosen.parameters + rest.parameters == order.parameters_below[-1] > 0
    assert order.everything().complement().names == () and not order.span(3, 3)
    assert chosen != order.span(2, 5) and chosen != chosen.names  # a set is no tuple
    copied = pickle.loads(pickle.dumps(chosen))  # plans travel to worker processes
    assert copied == chosen and copied.names == chosen.names and order.names[2] in copied


def test_plan_json_lists_short_stretches_by_name_and_long_ones_as_ranges(order):
    names = order.names
    short = order.span(0, LISTED_RUN)
    long = order.at([*range(LISTED_RUN + 1), 11])
    assert short.to_json() == list(names[:LISTED_RUN])
    assert long.to_json() == [{"from": names[0], "to": names[LISTED_RUN], "layers": LISTED_RUN + 1},
                              names[11]]
    for layer_set in (short, long, order.span(0, 0), order.everything()):
        assert read_layer_set(json.loads(json.dumps(layer_set.to_json())), names) == list(layer_set)


def _plan_size(layers: int) -> tuple[int, int]:
    """(ranges held by the plan's cuts and runs, characters of its plan.json)."""
    compiled = compile_spec("spec.yaml", text=spec_text(layers, TOP_DOWN))
    assert compiled.ok, compiled.diagnostics
    plan = compiled.plan
    sets = [layer_set for cut in plan.cuts for layer_set in (cut.extractor, cut.classifier)]
    sets += [getattr(run, field) for phase in plan.phases for run in phase.runs
             for field in ("trainable", "frozen", "reinitialised")]
    assert len({id(layer_set.order) for layer_set in sets}) == 1  # one shared order
    return sum(len(layer_set.ranges) for layer_set in sets), len(json.dumps(plan.to_dict()))


def test_a_plan_of_n_cuts_and_a_search_over_them_grows_linearly():
    small_ranges, small_json = _plan_size(150)
    large_ranges, large_json = _plan_size(300)
    # 149 cuts, 149 attempts and 149 retrain runs, each set one range or none: linear, where names
    # listed per cut and run would grow fourfold.
    assert small_ranges <= 8 * 150 and large_ranges <= 8 * 300
    assert large_json < 2.3 * small_json
