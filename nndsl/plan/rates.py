"""Plan stage: per-layer learning rates and the optimiser parameter groups.

The tempering rule decides a rate multiplier per layer (and, for `schraudolph`, the error
attenuation and shunting); `multipliers` then scale selected layers. Layers with equal rates
share one parameter group. No rate is decided at run time.
"""

from __future__ import annotations

import math

from nndsl.diagnostics import DiagnosticList, Span, StageContext
from nndsl.ir import INPUT, Graph
from nndsl.plan.plan import CutPlan, LayerRate, ParameterGroup, TemperingPlan
from nndsl.plan.regions import select
from nndsl.plan.tempering import (TemperedNode, TemperingError, layerwise_decay, tempering_table,
                                  width_scaled)
from nndsl.spec import Spec
from nndsl.spec.tempering import TemperingSpec

_PASSTHROUGH = {"activation", "dropout", "gaussian_dropout", "concat", "slice", "flatten"}
_DENSE = {"linear", "whitened_linear", "lwta", "variational_dropout"}
_NORMS = {"layer_norm", "batch_norm"}


def plan_rates(spec: Spec, tempering: TemperingSpec, graph: Graph, cuts: dict[str, CutPlan],
               base_lr: float, context: StageContext, path: tuple = ("tempering",),
               ) -> tuple[tuple[ParameterGroup, ...], TemperingPlan | None]:
    """Parameter groups (and the tempering table when a rule is active) for one optimiser."""
    locate, diagnostics = context.locate, context.diagnostics
    layers = [node.name for node in graph.nodes if node.parameter_count > 0]
    multipliers = {name: 1.0 for name in layers}
    tempering_plan = None
    global_lr = base_lr
    if tempering.global_lr == "auto":
        global_lr = 1.0 / math.sqrt(spec.data.batch_size)
    elif tempering.global_lr is not None:
        global_lr = float(tempering.global_lr)
    if tempering.rule == "schraudolph":
        tempering_plan = _schraudolph(spec, tempering, graph, global_lr, locate((*path, "rule")),
                                      diagnostics)
        if tempering_plan is not None:
            multipliers.update({rate.layer: rate.rate_multiplier for rate in tempering_plan.layers})
    elif tempering.rule == "layerwise_decay":
        depth = {node: index for index, unit in enumerate(graph.units) for node in unit.nodes}
        multipliers.update(layerwise_decay({name: depth[name] for name in layers}, tempering.decay))
    elif tempering.rule == "width":
        fan_in = {name: int(graph.node(name).input_shapes[0][-1]) for name in layers
                  if not isinstance(graph.node(name).input_shapes[0][-1], str)}
        multipliers.update(width_scaled(fan_in, tempering.base_width))
    decay = {name: 1.0 for name in layers}
    for index, multiplier in enumerate(tempering.multipliers):
        for position, selector in enumerate(multiplier.select):
            for name in select(selector, graph, cuts,
                               locate((*path, "multipliers", index, "select", position)),
                               diagnostics):
                if name in multipliers:
                    multipliers[name] *= multiplier.lr
                    decay[name] *= multiplier.weight_decay
    weight_decay = spec.optimizer.weight_decay
    shunted = {rate.layer for rate in tempering_plan.layers
               if rate.shunted} if tempering_plan else set()
    for name in layers:
        if "norm" in tempering.no_decay and graph.node(name).type in _NORMS:
            decay[name] = 0.0
    groups: dict[tuple[float, float, str, bool], list[str]] = {}
    for name in layers:
        multiplier, layer_decay = round(multipliers[name], 12), round(decay[name], 12)
        split = name in shunted or ("bias" in tempering.no_decay
                                    and _bias_count(graph.node(name)) > 0)
        groups.setdefault((multiplier, layer_decay, "weights" if split
                           else "all", False), []).append(name)
        if split:
            bias_decay = 0.0 if "bias" in tempering.no_decay else layer_decay
            groups.setdefault((multiplier, bias_decay, "biases", name in shunted), []).append(name)
    planned = []
    for (multiplier, decay_multiplier, kind, shunted_biases), members in groups.items():
        label = f"rate×{multiplier:.4g}" + (f" decay×{decay_multiplier:.3g}"
                                            if decay_multiplier != 1 else "")
        # A shunted bias learns from the mean error at the d.c. rate η_j/η, whatever the global η
        # (tempering paper, eq. 21): its rate is the multiplier itself, not η × multiplier.
        lr = multiplier if shunted_biases else global_lr * multiplier
        count = sum(_parameter_share(graph.node(name), kind) for name in members)
        planned.append(ParameterGroup(name=label + ("" if kind == "all" else f" ({kind})"),
                                      layers=tuple(members),
                                      lr=lr, weight_decay=weight_decay * decay_multiplier,
                                      rate_multiplier=multiplier,
                                      parameters=count,
                                      parameters_of=kind))  # type: ignore[arg-type]
    return tuple(planned), tempering_plan


def _parameter_share(node, kind: str) -> int:
    """Parameters of a layer that are weights, biases, or all of them."""
    if kind == "all":
        return node.parameter_count
    biases = _bias_count(node)
    return biases if kind == "biases" else node.parameter_count - biases


def _bias_count(node) -> int:
    """Bias parameters of a layer (shifts of norm layers count as biases), as torch builds them."""
    params = node.params
    if node.type in ("linear",):
        return int(node.output_shape[-1]) if params.bias else 0
    if node.type in ("lwta", "whitened_linear") or (node.type == "variational_dropout"
                                                    and params.units):
        return int(node.output_shape[-1])
    if node.type in ("conv1d", "conv2d"):
        return params.channels
    if node.recurrent:
        gates = {"lstm": 4, "blstm": 4, "gru": 3, "rnn": 1}[node.type]
        return 2 * gates * params.hidden * (2 if params.bidirectional else 1) * params.layers
    if node.type in _NORMS:
        return node.parameter_count // 2
    return 0


def _schraudolph(spec: Spec, tempering: TemperingSpec, graph: Graph, global_lr: float,
                 span: Span | None, diagnostics: DiagnosticList) -> TemperingPlan | None:
    weighted = [node for node in graph.nodes if node.parameter_count > 0]
    unsupported = [node for node in graph.nodes if node.type not in _DENSE | _PASSTHROUGH]
    if unsupported:
        node = unsupported[0]
        diagnostics.add("E603", f"tempering (schraudolph) is derived for layered networks of dense "
                        f"units; layer `{node.name}` is {node.type}", span,
                        "the per-node rates are undefined across skip connections, convolutions "
                        "and recurrence; use rule: layerwise_decay or manual")
        return None

    def anterior(name: str) -> tuple[str, ...]:
        found: list[str] = []
        for source in graph.predecessors(name):
            if source == INPUT or graph.node(source).parameter_count > 0:
                found.append(source)
            else:
                found.extend(anterior(source))
        return tuple(dict.fromkeys(found))

    posterior: dict[str, list[str]] = {node.name: [] for node in weighted}
    for node in weighted:
        for source in anterior(node.name):
            if source != INPUT:
                posterior[source].append(node.name)
    nodes = []
    for node in weighted:
        sources = anterior(node.name)
        if INPUT in sources and tempering.input_power is None:
            diagnostics.add("E603", f"layer `{node.name}` reads the network input, whose squared "
                            f"input power ε tempering needs", span,
                            "set tempering.input_power (4 for one-hot inputs with bias)")
            return None
        # A layer without a bias (`bias: false`) has no constant input: it neither counts in the
        # fan-in (nor ε) nor can it be shunted.
        has_bias = _bias_count(node) > 0
        nodes.append(TemperedNode(
            name=node.name, activation=node.activation,
            fan_in=int(node.input_shapes[0][-1]) + has_bias, has_bias=has_bias,
            input_power_bound=tempering.input_power if INPUT in sources else None,
            anterior=tuple(source for source in sources if source != INPUT),
            posterior=tuple(posterior[node.name]), is_output=node.name == graph.output,
            one_hot_output=spec.loss.type in ("binary_cross_entropy", "cross_entropy", "nll"),
            units=int(node.output_shape[-1]),
            output_loss="quadratic" if spec.loss.type == "mse" else "cross_entropy"))
    try:
        table = tempering_table(nodes, batch_size=spec.data.batch_size,
                                error_attenuation=tempering.error_attenuation,
                                shunting=tempering.shunting)
    except TemperingError as error:
        diagnostics.add("E603", f"tempering is undefined on this graph: {error}", span)
        return None
    return TemperingPlan(
        rule="schraudolph", global_lr=global_lr, global_lr_bound=table.global_rate_bound,
        layers=tuple(LayerRate(rate.name, rate.rate_multiplier, rate.attenuation,
                               rate.effective_multiplier, rate.shunted) for rate in table.rates),
        error_attenuation=tempering.error_attenuation, shunting=tempering.shunting)
