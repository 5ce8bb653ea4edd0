"""Plan stage: the feed-forward chains of a graph, with per-layer memory and cost estimates.

In: the IR graph, the batch size and the sequence length planned for (symbolic dimensions such
as "T" or "(T-1)/2+1" are evaluated at it). Out: chains — maximal runs of layers with one input
each, where every layer but the last feeds only the next — as lists of `ChainLayer` records for
`nndsl.plan.memory.segments`. Recurrent layers (planned by the recompute policies), layers joining
several inputs (add, concat) and layers whose output feeds more than one layer (a skip
connection or a branch) end a chain: a checkpoint boundary there would have to keep several
tensors, which this planner does not model.

The saved bytes are estimates by layer type, float32 for the planned batch, of what autograd
keeps for backward in the backend's modules (parameters are not counted; they exist anyway):

* linear, lwta, variational_dropout with units, conv1d/conv2d: the input (the weight gradient
  needs it), plus what the activation keeps: its output for relu, tanh, logistic, elu and
  softmax; its argument (the pre-activation, private) for softplus, gelu, silu and leaky_relu.
  lwta also keeps its winner mask; whitened_linear keeps the whitened input (the whitening is a
  buffer, so its own input is not needed); variational dropout keeps its noise terms (tensors of
  the input's or output's size) and, with units, θ² and α·θ² (weight-sized, whatever the batch).
* activation: the same rule applied to its input / output.
* dropout, gaussian_dropout: the scaled mask or noise factor (float32; CUDA's dropout keeps a
  one-byte mask, so this over-counts there).
* layer_norm: the input plus a mean and an inverse deviation per position; batch_norm: the input
  and per-channel statistics; maxpool: the input and int64 indices.
* embedding: the token ids (int64); flatten, add_channel, to_sequence, slice, add, concat:
  nothing (views, reshapes and sums keep only sizes).
* types whose record estimates itself (`saved_estimate`, `forward_cost`: attention,
  pooling, normalisation, positional encodings in nndsl.layers) by that estimate.
* any other (plugin) type: its input, its output and one more output-sized tensor, a deliberately
  generous guess.

Forward costs are FLOP-equivalents: 2 × weights × output positions for the weighted layers (a
multiply and an add per weight and position) plus elementwise work weighted by its measured cost
(`_ELEMENT_COSTS`: a dropout mask's random numbers cost ~60 times a ReLU per element on a CPU).
Backward costs (for the predicted step time only): twice the matrix products, and a cheap
elementwise product per output element.
Tests compare the byte estimates with autograd's saved tensors counted per storage.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from nndsl.ir import INPUT, Graph, GraphNode
from nndsl.layers import LAYERS
from nndsl.layers.registry import Dim
from nndsl.plan.memory.segments import ChainLayer

FLOAT_BYTES = 4
_SAVES_RESULT = {"relu", "tanh", "logistic", "elu", "softmax"}
_SAVES_ARGUMENT = {"softplus", "gelu", "silu", "leaky_relu"}
_WEIGHTED = {"linear", "lwta", "whitened_linear", "variational_dropout", "conv1d", "conv2d",
             "conv_transpose", "embedding"}
# add and concat keep nothing either (their gradients only route or split the incoming one); they
# join several inputs, so they appear in chains only inside a block
# (nndsl.plan.memory.block_chains).
_RESHAPES = {"flatten", "add_channel", "to_sequence", "slice", "add", "concat"}
# Cost per element of elementwise work, in FLOP-equivalents: time per element relative to a
# matrix product's time per FLOP, measured with one CPU thread (torch 2.x, x86): random numbers
# and transcendental functions cost far more than their arithmetic suggests, which decides
# whether recomputing a dropout or tanh layer is cheap. A GPU's ratios differ.
_ELEMENT_COSTS = {"linear": 1.0, "relu": 8.0, "leaky_relu": 8.0, "logistic": 30.0, "softmax": 50.0,
                  "gelu": 50.0, "silu": 50.0, "elu": 150.0, "softplus": 150.0, "tanh": 150.0,
                  "dropout": 500.0, "gaussian_dropout": 150.0, "noise": 150.0, "layer_norm": 30.0,
                  "batch_norm": 30.0, "maxpool": 10.0, "lwta": 20.0}
# Layers whose forward changes state must not run twice. Batch norm would update its running
# statistics again while recomputed, but the backend freezes them during recomputation
# (nndsl.backend.graph_module), so it may be checkpointed. A plugin type opts out with
# `checkpointable = False`.
_STATEFUL: set[str] = set()


def find_chains(graph: Graph) -> list[list[GraphNode]]:
    """Maximal feed-forward chains of the graph, in topological order (see the module docstring)."""
    chains: list[list[GraphNode]] = []
    current: list[GraphNode] = []
    for node in graph.nodes:
        eligible = not node.recurrent and len(node.inputs) == 1
        continues = (eligible and current and node.inputs[0] == current[-1].name
                     and graph.successors(current[-1].name) == [node.name])
        if continues:
            current.append(node)
            continue
        if current:
            chains.append(current)
        current = [node] if eligible else []
    if current:
        chains.append(current)
    return chains


def chain_layers(graph: Graph, chain: list[GraphNode], batch: int,
                 length: int | None) -> list[ChainLayer]:
    """`ChainLayer` estimates for one chain at the planned batch size and sequence length."""
    return [_estimate(node, batch, length) for node in chain]


def _estimate(node: GraphNode, batch: int, length: int | None) -> ChainLayer:
    inputs = _elements(node.input_shapes[0], length) * batch
    outputs = _elements(node.output_shape, length) * batch
    kind, params = node.type, node.params
    activation = (str(getattr(params, "activation", "linear")) if kind != "activation"
                  else params.function)
    record = LAYERS.get(kind)
    # A layer type may estimate itself (attention, pooling, ...: nndsl.layers); else the rules here.
    concrete_inputs = [_concrete(shape, length) for shape in node.input_shapes]
    concrete_output = _concrete(node.output_shape, length)
    own = record.saved_estimate(params, concrete_inputs, concrete_output, batch) if record else None
    saves_input, saves_output, private = own or _saved(kind, params, activation, inputs, outputs,
                                                       node)
    input_bytes = 0 if node.inputs[0] == INPUT else inputs * (8 if kind == "embedding"
                                                              else FLOAT_BYTES)
    cost = record.forward_cost(params, concrete_inputs, concrete_output, batch) if record else None
    return ChainLayer(
        name=node.name, input_bytes=input_bytes, output_bytes=outputs * FLOAT_BYTES,
        saves_input=saves_input, saves_output=saves_output, private_bytes=private,
        forward_cost=cost if cost is not None else _cost(node, kind, inputs, outputs),
        checkpointable=kind not in _STATEFUL and bool(getattr(record, "checkpointable", True)),
        backward_cost=_backward_cost(node, kind, outputs))


def _saved(kind: str, params, activation: str, inputs: int, outputs: int,
           node: GraphNode) -> tuple[bool, bool, int]:
    """(saves its input, saves its output, private bytes) for one layer; see the module
    docstring."""
    saves_output = activation in _SAVES_RESULT
    argument = outputs * FLOAT_BYTES if activation in _SAVES_ARGUMENT else 0
    if kind in ("linear", "conv1d", "conv2d", "conv_transpose"):
        return True, saves_output, argument
    if kind == "lwta":
        return True, False, outputs * FLOAT_BYTES  # the one-hot winner mask, in the input's dtype
    if kind == "whitened_linear":
        return False, saves_output, inputs * FLOAT_BYTES + argument  # the whitened input
    if kind == "variational_dropout":
        return _variational(params, inputs, outputs, node, saves_output, argument)
    if kind == "activation":
        return activation in _SAVES_ARGUMENT, saves_output, 0
    if kind in ("dropout", "gaussian_dropout"):
        return False, False, outputs * FLOAT_BYTES  # the (scaled) mask or noise factor

    if kind == "layer_norm":
        positions = inputs // max(1, _last(node.input_shapes[0]))
        return True, False, 2 * positions * FLOAT_BYTES
    if kind == "batch_norm":
        shape = node.input_shapes[0]
        channels = int(shape[0]) if len(shape) == 3 else _last(shape)
        return True, False, 2 * channels * FLOAT_BYTES  # the batch mean and inverse deviation
    if kind == "maxpool":
        return True, False, outputs * 8
    if kind == "embedding":
        return True, False, 0  # the token ids
    if kind in _RESHAPES:
        return False, False, 0
    return True, True, outputs * FLOAT_BYTES


def _variational(params, inputs: int, outputs: int, node: GraphNode, saves_output: bool,
                 argument: int) -> tuple[bool, bool, int]:
    """Variational dropout: noise terms of the input's or output's size, and α-sized terms."""
    features = _last(node.input_shapes[0])
    rates = node.parameter_count - ((features + 1) * params.units if params.units else 0)
    if params.units is None:  # noise on activations: the noise and the noise factor
        return True, False, 2 * inputs * FLOAT_BYTES + 2 * rates * FLOAT_BYTES
    if params.variant == "A":  # the noise, the noise factor and the noisy input
        return True, saves_output, 3 * inputs * FLOAT_BYTES + 2 * rates * FLOAT_BYTES + argument
    # B: input², the standard deviation and noise, and the weight-sized θ² and α·θ².
    weights = node.parameter_count * FLOAT_BYTES
    return (True, saves_output,
            inputs * FLOAT_BYTES + 2 * outputs * FLOAT_BYTES + 2 * weights + argument)


def _cost(node: GraphNode, kind: str, inputs: int, outputs: int) -> float:
    """Forward cost for the planned batch in FLOP-equivalents (see `_ELEMENT_COSTS`)."""
    activation = (_ELEMENT_COSTS.get(str(getattr(node.params, "activation", "linear")), 8.0)
                  * outputs)
    if kind in _WEIGHTED and kind != "embedding":
        channels = (int(node.output_shape[0]) if kind.startswith("conv")
                    else _last(node.output_shape))
        positions = outputs // max(1, channels)
        noise = _ELEMENT_COSTS["noise"] * outputs if kind == "variational_dropout" else 0.0
        return 2.0 * node.parameter_count * positions + outputs + activation + noise
    if kind == "activation":
        return _ELEMENT_COSTS.get(node.params.function, 8.0) * outputs
    if kind in _RESHAPES or kind == "embedding":
        return float(outputs)
    return _ELEMENT_COSTS.get(kind, 8.0) * max(inputs, outputs)


def _backward_cost(node: GraphNode, kind: str, outputs: int) -> float:
    """Backward cost in FLOP-equivalents: two matrix products per weighted layer (the input's and
    the weights' gradients) and a cheap elementwise product (with a saved mask or derivative)."""
    if kind in _WEIGHTED and kind != "embedding":
        channels = (int(node.output_shape[0]) if kind.startswith("conv")
                    else _last(node.output_shape))
        return 4.0 * node.parameter_count * (outputs // max(1, channels)) + 8.0 * outputs
    return 8.0 * outputs


def _last(shape: tuple[Dim, ...]) -> int:
    return int(shape[-1]) if shape and isinstance(shape[-1], int) else 1


def _concrete(shape: tuple[Dim, ...], length: int | None) -> tuple[int, ...]:
    return tuple(dim if isinstance(dim, int) else evaluate_dim(dim, length or 1) for dim in shape)


def _elements(shape: tuple[Dim, ...], length: int | None) -> int:
    total = 1
    for dim in shape:
        total *= dim if isinstance(dim, int) else evaluate_dim(dim, length or 1)
    return total


def evaluate_dim(text: str, length: int) -> int:
    """A symbolic dimension such as "T", "T/4" or "(T-1)/2+1" at a length ("/" rounds down).

    >>> evaluate_dim("(T-1)/2+1", 100)
    50
    """
    operators: dict[type, Callable[[int, int], int]] = {
        ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a // b}

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.BinOp) and type(node.op) in operators:
            return operators[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return length
        raise ValueError(f"unsupported dimension {text!r}")

    return max(1, value(ast.parse(text, mode="eval").body))
