"""Command-line layer: the lines `nndsl show` prints for online training, `hardware:` (the
device a network runs on), adapt phases and the loss terms of layers.

In: the typed spec. Out: plain text (the caller escapes it for rich), one line per setting, so a
reader sees at once how the "8-bit" or "analog" version differs from the float one, and what an
adapt phase learns from.
"""

from __future__ import annotations

from nndsl.check.references import layer_entries
from nndsl.plan import Plan
from nndsl.spec import Spec
from nndsl.spec.network import LayerSpec
from nndsl.spec.schedule import AdaptPhase


def _range(values: tuple[float, float]) -> str:
    return f"[{values[0]:g}, {values[1]:g}]"


def loss_terms_text(spec: Spec, plan: Plan) -> str:
    """The loss as the training module sums it: the data term plus each layer term with its
    weight (`loss.terms`), then what each term is."""
    parts = [f"{term.weight:g} × {term.term}({term.layer})" + (" / N" if term.per_example else "")
             for term in plan.loss_terms]
    meanings = dict.fromkeys(f"{term.term}: {term.doc}" for term in plan.loss_terms)
    return (f"loss: {spec.loss.type} + " + " + ".join(parts) + "\n"
            + "loss terms of layers: " + "; ".join(meanings)
            + " (weights: `loss.terms`" + ("; N: training examples)" if any(
                term.per_example for term in plan.loss_terms) else ")"))


def needs_training_text(spec: Spec) -> bool:
    return spec.data.online or spec.hardware is not None or any(
        isinstance(phase, AdaptPhase) for phase in spec.schedule)


def training_text(spec: Spec) -> str:
    """`training: online ...`, `hardware: ...` and `adapt ...` lines (those that apply)."""
    lines = []
    for index, phase in enumerate(spec.schedule):
        if isinstance(phase, AdaptPhase):
            name = phase.name or ("adapt" if sum(p.phase == "adapt" for p in spec.schedule) == 1
                                  else f"adapt-{index + 1}")
            lines.append(f"phase {name}: adapts {', '.join(map(str, phase.train))} to the "
                         f"{phase.inputs} inputs (labels unread), {phase.sweeps} sweep(s), one "
                         "update per example; target: own decision (+1 winner, -1 elsewhere) "
                         "against tanh(output)")
    unmixing = [item for _, item in layer_entries(spec)
                if isinstance(item, LayerSpec) and item.type == "ica"]
    if unmixing and any(isinstance(phase, AdaptPhase) for phase in spec.schedule):
        lines.append("attention: " + "; ".join(
            f"{item.name} (ica) weighs the error from above by γ = {item.params.gamma:g}"
            + ("" if item.params.independence else " (its independence term off)")
            for item in unmixing))
    if spec.data.online:
        lines.append("training: online — one update per example, in stream order (batch 1, "
                     "no shuffling)")
    hardware = spec.hardware
    if hardware is not None:
        parts = []
        if hardware.weight_bits is not None and hardware.weight_range is not None:
            step = (hardware.weight_range[1] - hardware.weight_range[0]) / (
                2**hardware.weight_bits - 1)
            parts.append(f"weights {hardware.weight_bits} bits over "
                         f"{_range(hardware.weight_range)} (step {step:.3g}, "
                         + ("straight-through)" if hardware.shadow_weights
                            else "stored at that resolution)"))
        elif hardware.weight_range is not None:
            parts.append(f"weights clipped to {_range(hardware.weight_range)}")
        if hardware.weight_bits is not None and hardware.weight_range is not None:
            parts.append(f"clipped to {_range(hardware.weight_range)}")
        if hardware.input_bits is not None and hardware.input_range is not None:
            parts.append(f"input {hardware.input_bits} bits over {_range(hardware.input_range)}")
        if hardware.offset:
            parts.append(f"fixed offsets σ = {hardware.offset:g}")
        if hardware.lr_grid is not None:
            parts.append("rates from {" + ", ".join(f"{rate:g}" for rate in hardware.lr_grid)
                         + "} (each update at the one nearest its planned or scheduled rate)")
        lines.append("hardware (every linear layer): " + ("; ".join(parts) or "no limits"))
    return "\n".join(lines)
