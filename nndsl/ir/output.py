"""IR stage: does the network's output fit the loss and the data's targets? (E505)

In: the graph, the spec and the data signature. Out: diagnostics only. The check stage has
already matched the loss to the kind of target (E408); here the output layer's shape is known,
so its rank and its last axis are compared with what the loss reads: one score per class
(cross_entropy, nll), per label including the blank (ctc) or per target (binary_cross_entropy).
"""

from __future__ import annotations

from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext
from nndsl.ir.graph import Graph
from nndsl.layers import format_shape
from nndsl.spec import Spec
from nndsl.spec.network import GroupSpec, LayerSpec


#: Losses reading one score per class on the output's last axis.
_SCORED_LOSSES = ("cross_entropy", "nll", "ctc", "binary_cross_entropy")
#: Output rank each target kind needs: a vector per example, or one per time step.
_OUTPUT_RANK = {"class": 1, "multilabel": 1, "next_token": 2, "label_sequence": 2}
_RANK_TEXT = {1: "one score vector per example, [classes]",
              2: "a score vector per step, [T, classes]"}
_RANK_HINT = {1: "end the network with a layer of that shape (flatten, or a recurrent layer with "
                 "output: last, before the last linear layer)",
              2: "keep the time axis up to the output"}
_WHAT = {"ctc": "labels (the blank included)", "binary_cross_entropy": "targets"}


def check_output(spec: Spec, signature: DataSignature, graph: Graph, context: StageContext) -> None:
    """Report an output layer whose rank or width does not fit the loss (E505).

    A wrong rank or too few scores is an error; more scores than classes only a warning.
    """
    locate, diagnostics = context.locate, context.diagnostics
    if spec.loss.type == "dtw_prediction":
        _check_predictions(spec, signature, graph, context)
        return
    if spec.loss.type not in _SCORED_LOSSES:
        return
    node = graph.node(graph.output)
    shape = node.output_shape
    path = _layer_path(spec, node.name)
    span = locate(path) if path is not None else node.span
    rank = _OUTPUT_RANK.get(signature.target_kind)
    if rank is not None and len(shape) != rank:
        diagnostics.add("E505", f"the output `{node.name}` has shape {format_shape(shape)}, but "
                        f"`{spec.loss.type}` on {signature.target_kind} targets needs "
                        f"{_RANK_TEXT[rank]}", span, _RANK_HINT[rank])
        return
    classes, width = signature.num_classes, shape[-1] if shape else None
    if classes is None or not isinstance(width, int) or width == classes:
        return
    if _every_phase_selects_classes(spec):
        return  # each phase's selection decides the width it needs (E629, plan stage)
    what = _WHAT.get(spec.loss.type, "classes")
    sizing = _width_source(graph, node.name)
    sizing_path = _layer_path(spec, sizing)
    has_units = sizing_path is not None and "units" in type(graph.node(sizing).params).model_fields
    if has_units:
        span = locate((*sizing_path, "units")) or span
    hint = f"set `units: {classes}` on `{sizing}`" if has_units else \
        f"make the last axis of `{node.name}` {classes} wide"
    # Too few scores cannot work; too many can (the extra classes are never the target, and a
    # file source may infer its class count from the labels present), so that is a warning,
    # except for binary cross-entropy, which needs one score per target exactly.
    fatal = width < classes or spec.loss.type == "binary_cross_entropy"
    diagnostics.add("E505", f"the output `{node.name}` has {width} features, but "
                    f"`{spec.data.source}` has {classes} {what}, so `{spec.loss.type}` needs "
                    f"{classes}", span, hint, severity="error" if fatal else "warning")


def _every_phase_selects_classes(spec: Spec) -> bool:
    """Every phase trains and scores on a class selection, the final test too (it uses the last
    phase's), so no phase needs a score for every class of the data."""
    return bool(spec.schedule) and all(getattr(phase, "classes", None) is not None
                                       for phase in spec.schedule)


def _width_source(graph: Graph, name: str) -> str:
    """The layer that decides `name`'s width: back through parameter-free layers that keep it
    (dropout, activation), so the diagnostic points at the `units:` to change."""
    node = graph.node(name)
    while (node.parameter_count == 0 and len(node.inputs) == 1 and node.inputs[0] in graph.order
           and node.input_shapes[0][-1:] == node.output_shape[-1:]):
        node = graph.node(node.inputs[0])
    return node.name


def _layer_path(spec: Spec, name: str) -> tuple[str | int, ...] | None:
    """The spec path of the layer called `name` (inside groups too), or None."""

    def search(items: tuple, path: tuple) -> tuple | None:
        for index, item in enumerate(items):
            if isinstance(item, GroupSpec):
                found = search(item.layers, (*path, index, "layers"))
                if found is not None:
                    return found
            elif isinstance(item, LayerSpec) and item.name == name:
                return (*path, index)
        return None

    return search(spec.network.layers, ("network", "layers"))


def _check_predictions(spec: Spec, signature: DataSignature, graph: Graph,
                       context: StageContext) -> None:
    """dtw_prediction reads [T, predictors, features]: a forecast of every input frame by one
    predictor per (label, state), so predictors = labels x `states_per_label` (E505)."""
    locate, diagnostics = context.locate, context.diagnostics
    node = graph.node(graph.output)
    path = _layer_path(spec, node.name)
    span = locate(path) if path is not None else node.span
    shape, frame = node.output_shape, signature.input_shape[-1]
    predictors = (signature.num_classes or 0) * spec.loss.states_per_label
    if len(shape) != 3 or shape[-1] != frame:
        diagnostics.add("E505", f"the output `{node.name}` has shape {format_shape(shape)}, but "
                        f"`dtw_prediction` needs every predictor's forecast of each input frame, "
                        f"[T, predictors, {frame}]", span, "end the network with a predictor_bank")
    elif predictors and shape[1] != predictors:
        diagnostics.add("E505", f"the output `{node.name}` has {shape[1]} predictors, but "
                        f"`{spec.data.source}` has {signature.num_classes} labels with "
                        f"{spec.loss.states_per_label} states each (loss.states_per_label)", span,
                        f"use {predictors} predictors, or change loss.states_per_label")
