"""Command-line layer: the lines `nndsl show` prints for online training and `hardware:`.

In: the typed spec. Out: plain text (the caller escapes it for rich), one line per setting, so a
reader sees at once how the "8-bit" or "analog" version differs from the float one.
"""

from __future__ import annotations

from nndsl.spec import Spec


def _range(values: tuple[float, float]) -> str:
    return f"[{values[0]:g}, {values[1]:g}]"


def hardware_text(spec: Spec) -> str:
    """`training: online ...` and `hardware: ...` lines (only those that apply)."""
    lines = []
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
                         + "}")
        lines.append("hardware (every linear layer): " + ("; ".join(parts) or "no limits"))
    return "\n".join(lines)
