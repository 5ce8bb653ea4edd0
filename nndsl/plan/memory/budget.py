"""Plan stage: a memory budget turned into recompute policies and checkpoint segments.

In: the spec's `memory:` (bytes, or a share of plain backpropagation's activation memory), the
graph, the batch size and the sequence length planned for. Out: a `MemoryPlan` with

* per recurrent layer and direction: the hidden-state units it may hold, α (the size of an
  internal state in hidden-state units), the policy's predicted forward steps and peak bytes next
  to plain BPTT's — computed by the dynamic programmes of Gruslys et al. (2016) in
  `nndsl.plan.memory.recompute`;
* per feed-forward chain (`nndsl.plan.memory.block_chains`: layers, and residual blocks as single
  elements) that checkpointing can shrink: its checkpoint segments, chosen by
  `nndsl.plan.memory.segments` from the elements' estimated sizes and costs.

How the parts share the budget: a percentage applies to each part alike (every recurrent layer
and every chain keeps at most that share of its own plain activation memory, so the network
does too). A byte budget is split in proportion to the parts' plain activation memory: the
chains take their share, each in proportion to its own plain bytes, and the recurrent layers
share the rest evenly per direction (the split the recurrent planner has always used).
Chains whose smallest feasible peak equals their plain one (a single layer, or a dropout before
the output layer) gain nothing from checkpoints: they run plainly outside the budget.

Policies for chains: `optimal` is the dynamic programme; `sqrt` is ⌈√n⌉ equal-count segments
(the baseline that ignores sizes); `none` checkpoints nothing; `hidden` and `internal` name
recurrent strategies and leave chains to the dynamic programme.

State sizes are float32 estimates (the backend measures the real ones in its tests): a hidden
state holds h (and c for an LSTM); an internal state holds the step's input, its input and
output states and what autograd keeps for the gates.
"""

from __future__ import annotations

import math

from nndsl.diagnostics import DiagnosticList, Span, StageContext
from nndsl.ir import Graph, GraphNode
from nndsl.plan.memory.block_chains import element_layers, expand, find_block_chains
from nndsl.plan.plan import ChainMemoryPlan, MemoryPlan, RecurrentMemoryPlan, SegmentPlan
from nndsl.plan.memory.recompute import (plain_bptt_bytes, plan_recompute, smallest_feasible_units,
                                         units_for_budget)
from nndsl.plan.memory.segment_search import fits, optimal_segments, smallest_peak
from nndsl.plan.memory.segments import (ChainLayer, Segment, evaluate, plain_segments,
                                        segment_bytes, sqrt_segments, step_cost)
from nndsl.records import Record
from nndsl.spec import Spec

FLOAT_BYTES = 4
# Tensors of width H an internal state holds besides the step input (per example): LSTM: h, c in;
# 4 gate activations, tanh(c'), c', h' out; GRU: h in, 3 gates, candidate, h' out; RNN: h in,
# h' out.
_INTERNAL_WIDTHS = {"lstm": 9, "gru": 6, "rnn": 2}
_STATE_WIDTHS = {"lstm": 2, "gru": 1, "rnn": 1}


class _Recurrent(Record):
    node: GraphNode
    cell: str
    hidden_bytes: int
    internal_bytes: int
    plain_bytes: int  # one direction


def plan_memory(spec: Spec, graph: Graph, context: StageContext) -> MemoryPlan | None:
    """The plan for the spec's `memory:` (None without one, or after E602/E604 in `diagnostics`)."""
    locate, diagnostics = context.locate, context.diagnostics
    memory = spec.memory
    if memory is None:
        return None
    span = locate(("memory",))
    if memory.sequence_length is None and isinstance(graph.input_shape[0], str):
        diagnostics.add("E604", "the input length varies, so the budget needs a length to plan for",
                        span, "add memory.sequence_length, e.g. 200")
        return None
    length = memory.sequence_length or next((dim for dim in graph.input_shape
                                             if isinstance(dim, int)), None)
    batch = spec.data.batch_size
    recurrent = _recurrent_layers(graph, batch, int(length or 1), span, diagnostics)
    if recurrent is None:
        return None
    # Chains of layers and whole blocks (a residual block is one element:
    # nndsl.plan.memory.block_chains).
    found = [(chain, element_layers(graph, chain, batch, memory.sequence_length))
             for chain in find_block_chains(graph)]
    found = [(chain, layers) for chain, layers in found
             if fits(layers, evaluate(layers, plain_segments(layers)).peak_bytes - 1)]
    chains = [layers for _, layers in found]
    if not recurrent and not chains:
        diagnostics.add("E604", "the memory budget has nothing to act on: the network has no "
                        "recurrent layer and no feed-forward chain that checkpoints can shrink",
                        span,
                        "budgets drive recompute policies of lstm/blstm/gru/rnn layers and "
                        "checkpoint segments of chains of several layers; remove `memory:`")
        return None
    directions = {item.node.name: 2 if item.node.params.bidirectional else 1 for item in recurrent}
    recurrent_plain = sum(item.plain_bytes * directions[item.node.name] for item in recurrent)
    chain_plains = [evaluate(layers, plain_segments(layers)).peak_bytes for layers in chains]
    total_plain = recurrent_plain + sum(chain_plains)
    budget_of = (lambda plain: memory.fraction * plain) if memory.is_fraction \
        else (lambda plain: float(memory.budget) * plain / total_plain)
    budget_location = locate(("memory", "budget"))

    def smallest_budget_text(needed: float, part_plain: float) -> str:
        if memory.is_fraction:  # rounded up, so that the budget shown is feasible
            return f"{math.ceil(10_000 * needed / part_plain) / 100:.2f}%"
        return f"{int(-(-needed * total_plain // part_plain)):,} bytes"

    chain_plans: list[ChainMemoryPlan] = []
    for layers, plain in zip(chains, chain_plains):
        planned = _plan_chain(layers, budget_of(plain), memory.policy)
        if isinstance(planned, int):
            names = f"{layers[0].name} … {layers[-1].name}"
            diagnostics.add("E602", f"the budget leaves the chain `{names}` "
                            f"{int(budget_of(plain)):,} bytes; its checkpoint segments "
                            f"({_chain_policy(memory.policy)}) need at least {planned:,}",
                            budget_location,
                            f"the smallest feasible budget is "
                            f"{smallest_budget_text(planned, plain)}")
            return None
        chain_plans.append(planned)
    recurrent_budget = recurrent_plain if memory.is_fraction else budget_of(recurrent_plain)
    shares = sum(directions.values())
    plans: list[RecurrentMemoryPlan] = []
    for item in recurrent:
        node, plain = item.node, item.plain_bytes
        budget = memory.fraction * plain if memory.is_fraction else recurrent_budget / shares
        units, alpha = units_for_budget(int(budget), item.hidden_bytes, item.internal_bytes)
        smallest = smallest_feasible_units(int(length or 1), memory.policy, alpha)
        if units < smallest:
            needed = (smallest + alpha) * item.hidden_bytes
            shown = smallest_budget_text(needed, plain) if memory.is_fraction \
                else smallest_budget_text(needed * shares, recurrent_plain)
            diagnostics.add("E602", f"the budget leaves layer `{node.name}` {max(units, 0)} "
                            f"hidden-state units; policy `{memory.policy}` needs at least "
                            f"{smallest} there", budget_location,
                            f"the smallest feasible budget is {shown}")
            return None
        schedule = plan_recompute(int(length or 1), units, memory.policy, alpha)
        count = directions[node.name]
        plans.append(RecurrentMemoryPlan(
            layer=node.name, cell=item.cell, directions=count, policy=memory.policy,
            sequence_length=int(length or 1), memory_units=units, alpha=alpha,
            hidden_state_bytes=item.hidden_bytes, internal_state_bytes=item.internal_bytes,
            predicted_forward_steps=schedule.predicted_forward_steps * count,
            plain_forward_steps=int(length or 1) * count,
            predicted_peak_bytes=schedule.predicted_peak_units * item.hidden_bytes * count,
            plain_peak_bytes=plain * count, schedule=schedule))
    total_budget = memory.fraction * total_plain if memory.is_fraction else float(memory.budget)
    segments = tuple(expand(segment.layers, elements)
                     for (elements, _), chain in zip(found, chain_plans)
                     for segment in chain.segments if segment.checkpointed)
    return MemoryPlan(budget_bytes=int(total_budget), policy=memory.policy, recurrent=tuple(plans),
                      checkpoint_segments=segments, chains=tuple(chain_plans),
                      note="sizes are float32 estimates for the planned batch size")


def _recurrent_layers(graph: Graph, batch: int, length: int, span: Span | None,
                      diagnostics: DiagnosticList) -> list[_Recurrent] | None:
    """State sizes of the recurrent layers (None after a diagnostic for a layer no policy runs)."""
    layers: list[_Recurrent] = []
    for node in (node for node in graph.nodes if node.recurrent):
        cell = "lstm" if node.type in ("lstm", "blstm") else node.type
        params = node.params
        if (params.layers > 1 or getattr(params, "projection", None)
                or getattr(params, "nonlinearity", "tanh") != "tanh"):
            diagnostics.add("E604", f"layer `{node.name}`: recompute policies run single-layer "
                            f"cells without projection (tanh for rnn)", node.span or span,
                            "stack layers as separate entries (e.g. a block with repeat) and drop "
                            "`projection`")
            return None
        input_size = int(node.input_shapes[0][-1])
        hidden_bytes = batch * params.hidden * _STATE_WIDTHS[cell] * FLOAT_BYTES
        internal_bytes = batch * (input_size + params.hidden * _INTERNAL_WIDTHS[cell]) * FLOAT_BYTES
        layers.append(_Recurrent(node, cell, hidden_bytes, internal_bytes,
                                 plain_bptt_bytes(length, internal_bytes)))
    return layers


def _chain_policy(policy: str) -> str:
    """The segmentation a memory policy gives chains (hidden/internal are recurrent strategies)."""
    return policy if policy in ("sqrt", "none") else "optimal"


def _plan_chain(layers: list[ChainLayer], budget: float, policy: str) -> ChainMemoryPlan | int:
    """The chain's plan, or the smallest peak its policy can reach when the budget is below it."""
    chosen = _chain_policy(policy)
    smallest = smallest_peak(layers)  # bisects over budgets: computed once per chain
    if chosen == "optimal":
        segments = optimal_segments(layers, budget) if budget >= smallest else None
        if segments is None:
            return smallest
    else:
        segments = sqrt_segments(layers) if chosen == "sqrt" else plain_segments(layers)
        peak = evaluate(layers, segments).peak_bytes
        if peak > budget:
            return peak
    result = evaluate(layers, segments)
    forward = sum(layer.forward_cost for layer in layers)
    step = step_cost(layers)
    return ChainMemoryPlan(
        layers=tuple(layer.name for layer in layers), policy=chosen, budget_bytes=int(budget),
        segments=tuple(_segment_plan(layers, segment,
                                     index > 0 and not segments[index - 1].checkpointed)
                       for index, segment in enumerate(segments)),
        predicted_peak_bytes=result.peak_bytes,
        plain_peak_bytes=evaluate(layers, plain_segments(layers)).peak_bytes,
        smallest_peak_bytes=smallest, forward_flops=forward, recompute_flops=result.recompute_cost,
        predicted_time_ratio=1.0 + result.recompute_cost / step if step else 1.0)


def _segment_plan(layers: list[ChainLayer], segment: Segment, after_plain: bool) -> SegmentPlan:
    stored, internal = segment_bytes(layers, segment, after_plain)
    flops = sum(layer.forward_cost
                for layer in layers[segment.start:segment.stop]) if segment.checkpointed else 0.0
    return SegmentPlan(layers=tuple(layer.name for layer in layers[segment.start:segment.stop]),
                       checkpointed=segment.checkpointed, stored_bytes=stored,
                       recompute_bytes=internal, recompute_flops=flops)
