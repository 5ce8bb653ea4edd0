"""Check stage: plants, online training and hardware limits (cross-field rules).

In: the typed spec. Out: diagnostics appended to the list:

    E481  a learning layer reads a plant's output (plants sit between the network and the loss)
    E482  a phase's `train:` names only plants, which never learn
    E483  a bit count without the range its levels spread over
    E484  a learning rate that is not on `hardware.lr_grid`
    E485  online training with a batch of more than one example
    E486  online training that accumulates gradients or resamples examples (bagging)
    E487  hardware limits where they cannot apply: an ensemble, shunted tempering, or a layer
          with weights other than a `linear` layer's (they would stay unconstrained)
    E343  `hardware.lr_grid` with an optimiser that sets its own step sizes (delta_bar_delta's
          per-weight gains, lbfgs's line search): its rates would leave the grid
"""

from __future__ import annotations

from nndsl.check.references import layer_entries
from nndsl.diagnostics import StageContext
from nndsl.layers import LAYERS, LayerType
from nndsl.spec import Spec
from nndsl.spec.hardware import nearest_rate
from nndsl.spec.network import GroupSpec
from nndsl.spec.schedule import TrainPhase

#: Layer types whose weights `hardware:` constrains (`nndsl.backend.hardware`).
CONSTRAINED_TYPES = frozenset({"linear"})
#: Relative tolerance when comparing a written rate with the grid's values.
RATE_TOLERANCE = 1e-9


def _is_plant(layer_type: str) -> bool:
    return layer_type in LAYERS and LAYERS.get(layer_type).plant


def check_plants(spec: Spec, context: StageContext) -> None:
    """A layer that learns must not read a plant: the plant models the world after the output."""
    locate, diagnostics = context.locate, context.diagnostics
    plants: set[str] = set()
    previous: str | None = None
    for path, item in layer_entries(spec):
        if isinstance(item, GroupSpec):
            continue
        sources = item.inputs if item.inputs is not None else ((previous,) if previous else ())
        read = [source for source in sources if source in plants]
        if _is_plant(item.type):
            plants.add(item.name)
        elif read:
            diagnostics.add("E481", f"`{item.name}` ({item.type}) reads the plant `{read[0]}`: a "
                            "plant stands between the network's output and the loss",
                            locate(path), "move the plant layers to the end of `layers:`")
        previous = item.name
    for index, phase in enumerate(spec.schedule):
        if not isinstance(phase, TrainPhase):
            continue
        named = [str(selector) for selector in phase.train if selector.kind == "name"]
        if named and all(name in plants for name in named) and len(named) == len(phase.train):
            diagnostics.add("E482", f"phase trains only plants ({', '.join(named)}), which never "
                            "learn", locate(("schedule", index, "train")),
                            "select the layers before the plant")


def check_online(spec: Spec, context: StageContext) -> None:
    """`online: true` means one update per example in stream order."""
    locate, diagnostics = context.locate, context.diagnostics
    if not spec.data.online:
        return
    if spec.data.batch_frames is not None:
        diagnostics.add("E485", "online training updates after every example, but batch_frames "
                        "makes batches of several", locate(("data", "batch_frames")),
                        "write `batch_size: 1` instead of batch_frames")
    elif spec.data.batch_size != 1:
        diagnostics.add("E485", f"online training updates after every example, but batch_size "
                        f"is {spec.data.batch_size}", locate(("data", "batch_size")),
                        "write `batch_size: 1`, or drop `online: true` for batch training")
    if spec.trainer.accumulate_grad_batches != 1:
        diagnostics.add("E486", "online training cannot accumulate gradients over examples",
                        locate(("trainer", "accumulate_grad_batches")),
                        "remove accumulate_grad_batches")
    if spec.ensemble is not None and spec.ensemble.method == "bagging":
        diagnostics.add("E486", "online training keeps the stream's order, but bagging draws "
                        "each member's examples at random", locate(("ensemble", "method")),
                        "use `method: independent`, or drop `online: true`")


def check_hardware(spec: Spec, context: StageContext) -> None:
    """Bit counts need their ranges; every written learning rate lies on the device's grid."""
    locate, diagnostics = context.locate, context.diagnostics
    hardware = spec.hardware
    if hardware is None:
        return
    if spec.ensemble is not None:
        diagnostics.add("E487", "hardware limits apply to a single network, not an ensemble",
                        locate(("hardware",)), "remove `ensemble:` or `hardware:`")
    temperings = [spec.tempering, *(phase.tempering for phase in spec.schedule)]
    if any(tempering is not None and tempering.shunting for tempering in temperings):
        diagnostics.add("E487", "hardware limits cannot constrain shunted layers (tempering's "
                        "`shunting`)", locate(("hardware",)), "turn shunting off")
    for path, item in layer_entries(spec):
        if isinstance(item, GroupSpec) or item.type in CONSTRAINED_TYPES:
            continue
        record = LAYERS.get(item.type) if item.type in LAYERS else None
        if record is not None and type(record).parameter_count is not LayerType.parameter_count:
            diagnostics.add("E487", f"hardware limits apply to `linear` layers; `{item.name}` "
                            f"({item.type}) has weights they cannot constrain", locate(path),
                            "use linear layers, or leave `hardware:` out")
    for bits, span in (("weight_bits", "weight_range"), ("input_bits", "input_range")):
        if getattr(hardware, bits) is not None and getattr(hardware, span) is None:
            diagnostics.add("E483", f"`{bits}` needs `{span}`: the levels are spread over it",
                            locate(("hardware", bits)), f"add `{span}: [low, high]`")
    if hardware.lr_grid is None:
        return
    # The spec's optimizer and each phase's own, by where they are written.
    optimizers = [(("optimizer",), spec.optimizer)]
    optimizers += [(("schedule", index, "optimizer"), phase.optimizer)
                   for index, phase in enumerate(spec.schedule) if phase.optimizer is not None]
    for path, optimizer in optimizers:
        if optimizer.type == "delta_bar_delta" or (
                optimizer.type == "lbfgs" and optimizer.line_search != "none"):
            what = ("adapts a gain per weight" if optimizer.type == "delta_bar_delta"
                    else "chooses each step's size by its line search")
            diagnostics.add("E343", f"`{optimizer.type}` {what}, so its rates would leave the "
                            "device's `lr_grid`", locate((*path, "type")),
                            "use sgd (the device's own rule), or leave `lr_grid` out")
    rates = [((*path, "lr"), optimizer.lr) for path, optimizer in optimizers]
    grid = ", ".join(f"{rate:g}" for rate in hardware.lr_grid)
    for path, rate in rates:
        if not any(abs(rate - level) <= RATE_TOLERANCE * level for level in hardware.lr_grid):
            nearest = nearest_rate(rate, hardware.lr_grid)
            diagnostics.add("E484", f"learning rate {rate:g} is not on the device's grid ({grid})",
                            locate(path), f"the nearest rate the device can set is {nearest:g}")
