"""Plan stage: checkpoint segments for feed-forward chains — the dynamic programme against
brute force, monotone costs, size-aware segmentations beating equal splits, and budgets
compiled from specs (sharing with recurrent layers, E602, E604)."""

from __future__ import annotations

import itertools
import random

import pytest
from spec_texts import compile_file

from nndsl.plan.memory.segment_search import optimal_segments, smallest_peak
from nndsl.plan.memory.segments import (ChainLayer, Segment, equal_segments, evaluate, plain_segments,
                                        sqrt_segments)
from nndsl.records import replace


def random_chain(generator: random.Random, count: int) -> list[ChainLayer]:
    layers = []
    width = generator.choice([8, 64, 256])
    for index in range(count):
        output = generator.choice([4, 16, 64, 256, 1024])
        layers.append(ChainLayer(
            name=f"l{index}", input_bytes=0 if index == 0 else width * 4, output_bytes=output * 4,
            saves_input=generator.random() < 0.7, saves_output=generator.random() < 0.5,
            private_bytes=generator.choice([0, 0, output, output * 4]),
            forward_cost=float(generator.randint(1, 100)), checkpointable=generator.random() < 0.9))
        width = output
    return layers


def all_segmentations(count: int):
    """Every split of range(count) into consecutive segments, each plain or checkpointed."""
    for cuts in itertools.product([False, True], repeat=count - 1):
        edges = [0] + [index + 1 for index, cut in enumerate(cuts) if cut] + [count]
        pieces = list(zip(edges, edges[1:]))
        for flags in itertools.product([False, True], repeat=len(pieces)):
            yield [Segment(start, stop, flag) for (start, stop), flag in zip(pieces, flags)]


def allowed(layers, segments) -> bool:
    return all(layer.checkpointable for segment in segments if segment.checkpointed
               for layer in layers[segment.start:segment.stop])


@pytest.mark.parametrize("seed", range(12))
def test_dynamic_programme_matches_brute_force(seed):
    generator = random.Random(seed)
    layers = random_chain(generator, generator.randint(1, 7))
    results = [evaluate(layers, segments) for segments in all_segmentations(len(layers)) if allowed(layers, segments)]
    lowest = min(result.peak_bytes for result in results)
    assert smallest_peak(layers) == lowest
    plain = evaluate(layers, plain_segments(layers)).peak_bytes
    for budget in sorted({lowest - 1, lowest, (lowest + plain) // 2, plain, *(r.peak_bytes for r in results[:6])}):
        feasible = [result.recompute_cost for result in results if result.peak_bytes <= budget]
        chosen = optimal_segments(layers, budget)
        if not feasible:
            assert chosen is None
            continue
        assert chosen is not None and allowed(layers, chosen)
        assert [segment.start for segment in chosen][0] == 0 and chosen[-1].stop == len(layers)
        result = evaluate(layers, chosen)
        assert result.peak_bytes <= budget
        assert result.recompute_cost == pytest.approx(min(feasible))


def test_recompute_cost_falls_as_the_budget_grows():
    layers = random_chain(random.Random(99), 12)
    lowest, plain = smallest_peak(layers), evaluate(layers, plain_segments(layers)).peak_bytes
    costs = [evaluate(layers, optimal_segments(layers, budget)).recompute_cost
             for budget in range(lowest, plain + 1, max(1, (plain - lowest) // 40))]
    assert all(later <= earlier for earlier, later in zip(costs, costs[1:]))
    assert costs[0] > 0 and evaluate(layers, optimal_segments(layers, plain)).recompute_cost == 0


def mlp(widths: list[int], batch: int = 64) -> list[ChainLayer]:
    """Dense tanh layers: each saves its input and its output (the next layer's input)."""
    layers, previous = [], 0
    for index, width in enumerate(widths):
        layers.append(ChainLayer(f"h{index}", previous * batch * 4, width * batch * 4, True, True, 0,
                                 2.0 * previous * width * batch if previous else 2.0 * 64 * width * batch))
        previous = width
    return layers


def test_sizes_choose_other_segments_than_equal_splits_and_cost_less():
    layers = mlp([256, 16, 1024, 1024, 16, 256, 16, 512, 512, 16, 64, 10])
    plain, lowest = evaluate(layers, plain_segments(layers)).peak_bytes, smallest_peak(layers)
    equal = {count: equal_segments(layers, count) for count in range(1, len(layers) + 1)}
    for share in (0.0, 0.3, 0.7):
        budget = lowest + share * (plain - lowest)
        chosen = optimal_segments(layers, budget)
        best = evaluate(layers, chosen)
        feasible = [evaluate(layers, segments) for segments in equal.values()
                    if evaluate(layers, segments).peak_bytes <= budget]
        assert best.peak_bytes <= budget and chosen not in equal.values()
        # The narrow layers are the cheap boundaries to keep; equal splits cut wherever the count
        # says, so the best of them (any number of segments) recomputes more at the same budget.
        assert feasible and best.recompute_cost < min(result.recompute_cost for result in feasible)
    assert best.recompute_cost < 0.1 * min(result.recompute_cost for result in feasible)


def test_the_memory_model_on_a_hand_worked_chain():
    # x (the network input) -> a [saves in, out] -> b [saves in, out] -> c [saves in, private 5]
    layers = [ChainLayer("a", 0, 10, True, True, 0, 1.0), ChainLayer("b", 10, 20, True, True, 0, 2.0),
              ChainLayer("c", 20, 30, True, False, 5, 4.0)]
    plain = evaluate(layers, plain_segments(layers))
    # a's output is b's input, b's output is c's input: each storage once.
    assert (plain.peak_bytes, plain.recompute_cost) == (10 + 20 + 5, 0)
    # [a, b] checkpointed keeps nothing (the network input), c keeps 25 until its backward; then
    # a and b are recomputed, holding 10 + 20 (b's recomputed output is a fresh copy, not c's input).
    checkpointed = evaluate(layers, [Segment(0, 2, True), Segment(2, 3, False)])
    assert checkpointed == type(checkpointed)(peak_bytes=30, stored_bytes=25, recompute_cost=3.0)
    assert sqrt_segments(layers) == (Segment(0, 2, True), Segment(2, 3, False))


def test_layers_that_cannot_be_recomputed_stay_plain():
    layers = mlp([64, 64, 64, 64, 64, 64])
    frozen = [layer if index != 2 else replace(layer, checkpointable=False)
              for index, layer in enumerate(layers)]
    for segments in (optimal_segments(frozen, smallest_peak(frozen)), equal_segments(frozen, 2)):
        assert all(not (segment.checkpointed and segment.start <= 2 < segment.stop) for segment in segments)


SPEC = """nndsl: 1
name: t
data: {{source: {source}, batch_size: 32}}
network:
  layers:
{layers}
loss: {{type: {loss}}}
memory: {{budget: "{budget}"{extra}}}
optimizer: {{type: sgd, lr: 0.1}}
"""
DEEP = "\n".join(f"    - {{name: h{index}, type: linear, units: {width}, activation: relu}}"
                 for index, width in enumerate([512, 32, 512, 32, 512])) + "\n    - {name: out, type: linear, units: 10}"


def compiled(tmp_path, budget: str, layers: str = DEEP, source: str = "digits", loss: str = "cross_entropy",
             extra: str = ""):
    return compile_file(tmp_path, SPEC.format(layers=layers, budget=budget, source=source, loss=loss,
                                              extra=extra))


def test_spec_budget_plans_segments_within_the_budget(tmp_path):
    result = compiled(tmp_path, "50%")
    assert result.diagnostics == ()
    chain = result.plan.memory.chains[0]
    assert chain.layers == ("h0", "h1", "h2", "h3", "h4", "out") and chain.policy == "optimal"
    assert chain.predicted_peak_bytes <= chain.budget_bytes == int(0.5 * chain.plain_peak_bytes)
    assert chain.predicted_time_ratio > 1.0
    assert result.plan.memory.checkpoint_segments == tuple(segment.layers for segment in chain.segments
                                                           if segment.checkpointed)
    sqrt = compiled(tmp_path, "90%", extra=", policy: sqrt").plan.memory.chains[0]
    assert sqrt.policy == "sqrt" and len(sqrt.segments) == 3
    hidden = compiled(tmp_path, "50%", extra=", policy: hidden").plan.memory.chains[0]
    assert hidden.policy == "optimal" and hidden.segments == chain.segments
    none = compiled(tmp_path, "100%", extra=", policy: none").plan.memory.chains[0]
    assert not any(segment.checkpointed for segment in none.segments)


def test_infeasible_chain_budget_is_e602_naming_the_smallest_budget(tmp_path):
    result = compiled(tmp_path, "5%")
    errors = [item for item in result.diagnostics if item.code == "E602"]
    assert errors and (errors[0].span.line, errors[0].span.column) == (13, 18) and "smallest feasible budget is" in errors[0].hint
    shown = errors[0].hint.rsplit(" ", 1)[1]
    assert compiled(tmp_path, shown).diagnostics == ()
    byte_errors = compiled(tmp_path, "20 KiB").diagnostics
    needed = byte_errors[0].hint.split("is ")[1].split(" bytes")[0].replace(",", "")
    assert compiled(tmp_path, needed).diagnostics == ()


def test_nothing_to_act_on_is_e604(tmp_path):
    short = "    - {name: h, type: linear, units: 32, activation: tanh}\n    - {name: out, type: linear, units: 10}"
    assert [item.code for item in compiled(tmp_path, "50%", layers=short).diagnostics] == ["E604"]


def test_recurrent_layers_and_chains_share_a_byte_budget_by_plain_memory(tmp_path):
    layers = ("    - {name: rnn, type: lstm, hidden: 16}\n" + "\n".join(
        f"    - {{name: f{index}, type: linear, units: {width}, activation: relu}}"
        for index, width in enumerate([256, 16, 256, 16])) + "\n    - {name: out, type: linear, units: 21}")
    fraction = compiled(tmp_path, "60%", layers, "synthetic_speech", "ctc", ", sequence_length: 50")
    assert fraction.diagnostics == ()
    memory = fraction.plan.memory
    chain, recurrent = memory.chains[0], memory.recurrent[0]
    assert chain.budget_bytes == int(0.6 * chain.plain_peak_bytes)
    total_plain = chain.plain_peak_bytes + recurrent.plain_peak_bytes
    assert memory.budget_bytes == int(0.6 * total_plain)
    budget = 0.6 * total_plain
    in_bytes = compiled(tmp_path, f"{int(budget)}", layers, "synthetic_speech", "ctc", ", sequence_length: 50")
    assert in_bytes.diagnostics == ()
    shared = in_bytes.plan.memory
    assert shared.chains[0].budget_bytes == pytest.approx(budget * chain.plain_peak_bytes / total_plain, abs=1)
    assert shared.recurrent[0].memory_units == recurrent.memory_units
