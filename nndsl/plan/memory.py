"""Plan stage: a memory budget turned into a recompute policy per recurrent layer.

In: the spec's `memory:` (bytes, or a share of plain backpropagation through time's activation
memory), the graph's recurrent layers, the batch size and the sequence length planned for.
Out: per layer and direction, the hidden-state units it may hold, α (the size of an internal
state in hidden-state units), the policy's predicted forward steps and peak bytes next to plain
BPTT's — computed by the dynamic programmes of Gruslys et al. (2016) in `nndsl.plan.recompute`.

State sizes are float32 estimates from the cell equations (the backend measures the real ones in
its tests): a hidden state holds h (and c for an LSTM); an internal state holds the step's input,
its input and output states and what autograd keeps for the gates.
"""

from __future__ import annotations

from collections.abc import Callable

from nndsl.diagnostics import DiagnosticList, Span
from nndsl.ir import Graph
from nndsl.plan.plan import MemoryPlan, RecurrentMemoryPlan
from nndsl.plan.recompute import plain_bptt_bytes, plan_recompute, smallest_feasible_units, units_for_budget
from nndsl.spec import Spec

Locator = Callable[[tuple[str | int, ...]], Span | None]
FLOAT_BYTES = 4
# Tensors of width H an internal state holds besides the step input (per example): LSTM: h, c in;
# 4 gate activations, tanh(c'), c', h' out; GRU: h in, 3 gates, candidate, h' out; RNN: h in, h' out.
_INTERNAL_WIDTHS = {"lstm": 9, "gru": 6, "rnn": 2}
_STATE_WIDTHS = {"lstm": 2, "gru": 1, "rnn": 1}


def plan_memory(spec: Spec, graph: Graph, locate: Locator, diagnostics: DiagnosticList) -> MemoryPlan | None:
    memory = spec.memory
    if memory is None:
        return None
    recurrent = [node for node in graph.nodes if node.recurrent]
    span = locate(("memory",))
    if not recurrent:
        diagnostics.add("E604", "the memory budget has nothing to act on: the network has no recurrent layer", span,
                        "budgets drive recompute policies of lstm/blstm/gru/rnn layers; remove `memory:`")
        return None
    length = memory.sequence_length or next((dim for dim in graph.input_shape if isinstance(dim, int)), None)
    if memory.sequence_length is None and isinstance(graph.input_shape[0], str):
        diagnostics.add("E604", "the input length varies, so the budget needs a length to plan for",
                        span, "add memory.sequence_length, e.g. 200")
        return None
    batch = spec.data.batch_size
    plans: list[RecurrentMemoryPlan] = []
    shares = sum(2 if node.params.bidirectional else 1 for node in recurrent)
    for node in recurrent:
        cell = "lstm" if node.type in ("lstm", "blstm") else node.type
        params = node.params
        if params.layers > 1 or getattr(params, "projection", None) or getattr(params, "nonlinearity", "tanh") != "tanh":
            diagnostics.add("E604", f"layer `{node.name}`: recompute policies run single-layer cells without "
                            "projection (tanh for rnn)", node.span or span,
                            "stack layers as separate entries (e.g. a block with repeat) and drop `projection`")
            return None
        input_size = int(node.input_shapes[0][-1])
        hidden_bytes = batch * params.hidden * _STATE_WIDTHS[cell] * FLOAT_BYTES
        internal_bytes = batch * (input_size + params.hidden * _INTERNAL_WIDTHS[cell]) * FLOAT_BYTES
        plain = plain_bptt_bytes(int(length), internal_bytes)
        budget = memory.fraction * plain if memory.is_fraction else float(memory.budget) / shares
        units, alpha = units_for_budget(int(budget), hidden_bytes, internal_bytes)
        smallest = smallest_feasible_units(int(length), memory.policy, alpha)
        if units < smallest:
            needed = (smallest + alpha) * hidden_bytes
            total = needed * shares if not memory.is_fraction else needed
            shown = f"{100 * needed / plain:.2f}%" if memory.is_fraction else f"{total:,} bytes"
            diagnostics.add("E602", f"the budget leaves layer `{node.name}` {max(units, 0)} hidden-state units; "
                            f"policy `{memory.policy}` needs at least {smallest} there", locate(("memory", "budget")),
                            f"the smallest feasible budget is {shown}")
            return None
        schedule = plan_recompute(int(length), units, memory.policy, alpha)
        directions = 2 if params.bidirectional else 1
        plans.append(RecurrentMemoryPlan(
            layer=node.name, cell=cell, directions=directions, policy=memory.policy, sequence_length=int(length),
            memory_units=units, alpha=alpha, hidden_state_bytes=hidden_bytes, internal_state_bytes=internal_bytes,
            predicted_forward_steps=schedule.predicted_forward_steps * directions,
            plain_forward_steps=int(length) * directions,
            predicted_peak_bytes=schedule.predicted_peak_units * hidden_bytes * directions,
            plain_peak_bytes=plain * directions))
    total_budget = sum(plan.plain_peak_bytes for plan in plans) * memory.fraction if memory.is_fraction \
        else float(memory.budget)
    return MemoryPlan(budget_bytes=int(total_budget), policy=memory.policy, recurrent=tuple(plans),
                      note="state sizes are float32 estimates for the planned batch size")
