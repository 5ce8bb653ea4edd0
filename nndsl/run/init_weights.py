"""Run stage: `init_from:` carried out as the plan decided it.

In: the network and an `InitPlan` (the file, and per layer the checkpoint layer and tensor names
it loads). Out: the network with those tensors copied in; nothing else changes. The file is read
through `nndsl.run.safe_load`, the one reader that runs no code from a checkpoint.

Nothing is decided here: the plan stage matched layers, sizes and names at validation. The checks
below only catch a file that changed (or vanished) since then, reported as the diagnostics the
plan stage uses (exit 2, no traceback). A checkpoint in another key layout (`layout:
"foreign"`) pairs each tensor with this layer's tensor of the same last name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from nndsl.diagnostics import Diagnostic, SpecError
from nndsl.plan import InitPlan, Plan
from nndsl.plan.plan import LayerInit
from nndsl.state_names import layer_prefix
from nndsl.run.safe_load import UnreadableCheckpoint, read_state_dict


def check_init_sources(plan: Plan, compiled: Any = None) -> None:
    """Every `init_from` file exists (validation only warns about one still to be trained), and
    with the compiled spec, a checkpoint of another key layout pairs with the layers' tensors.

    Raises:
        SpecError: E335 for each missing file, E466 for tensors that do not pair, before the run
            directory is made.
    """
    plans = [plan.init, *(phase.init for phase in plan.phases)]
    missing = [init for init in plans if init is not None
               and (not init.checked or not Path(init.file).is_file())]
    if missing:
        raise SpecError([Diagnostic("E335", f"init_from: `{init.source}` does not exist", None,
                                    "train the run it comes from first "
                                    "(`nndsl train SPEC --run-dir DIR`)") for init in missing])
    planned = [init for init in plans if init is not None]
    if planned and compiled is not None:
        _check_pairs(planned, compiled)


def _check_pairs(inits: list[InitPlan], compiled: Any) -> None:
    """Each planned tensor pairs with one of this network's of the same shape (another layout's
    by last name), checked on a network built on the meta device (no memory, no values) against
    the file's shapes (read without its tensors): a mismatch is E466 before the run directory
    is made."""
    from nndsl.plan.checkpoint_shapes import CheckpointRefused, checkpoint_shapes
    from nndsl.run.trained import build_trained_network

    try:
        with torch.device("meta"):
            own = build_trained_network(compiled).state_dict()
    except Exception:  # noqa: BLE001 - a layer that cannot be built there: loading checks later
        return
    problems = []
    for init in inits:
        try:
            shapes = checkpoint_shapes(Path(init.file))
        except CheckpointRefused:
            continue  # reported by the safe reader when loading (E335)
        for layer in init.layers:
            for source, target, problem in _pairs(init, layer, own):
                if problem is None and target not in own:
                    problem = (f"this network's layer has no "
                               f"`{target[len(layer_prefix(layer.layer)):]}` tensor")
                elif problem is None and source in shapes \
                        and tuple(shapes[source]) != tuple(own[target].shape):
                    problem = (f"`{source}` has shape {tuple(shapes[source])}, this network's "
                               f"{tuple(own[target].shape)}")
                if problem is not None:
                    problems.append(Diagnostic(
                        "E466", f"init_from: `{init.source}` does not fit layer `{layer.layer}`: "
                        f"{problem}", None, _PAIRING_HINT if init.layout == "foreign" else
                        _NNDSL_HINT))
    if problems:
        raise SpecError(problems)


def load_initial_weights(network: nn.Module, init: InitPlan) -> int:
    """Copy the planned tensors into `network`; returns the number of values loaded.

    Raises:
        SpecError: E335 when the file cannot be read safely any more, E466 when it no longer
            holds what validation found (the file changed since).
    """
    try:
        state = read_state_dict(init.file)
    except UnreadableCheckpoint as error:
        raise SpecError([Diagnostic("E335", f"init_from: {error}", None,
                                    "give a run directory, a Lightning .ckpt or a state dict")]) \
            from None
    own = network.state_dict()
    values: dict[str, torch.Tensor] = {}
    for layer in init.layers:
        for source, target, problem in _pairs(init, layer, own):
            problem = problem or _mismatch(state, own, source, target)
            if problem:
                raise SpecError([Diagnostic(
                    "E466", f"init_from: `{init.file}` does not fit layer `{layer.layer}`: "
                    f"{problem}", None, _PAIRING_HINT if init.layout == "foreign" else
                    "check that the file has not changed since `nndsl validate`, and that the "
                    "layers loaded have the same type")])
            values[target] = state[source].to(own[target].dtype)
    with torch.no_grad():
        network.load_state_dict(values, strict=False)
    return sum(value.numel() for value in values.values())


_PAIRING_HINT = ("in another key layout each checkpoint tensor goes into the layer's one tensor "
                 "of the same last name (`weight` into `0.weight`): map modules of the same kind "
                 "with `rename:`, or leave the layer out of `select:`")


_NNDSL_HINT = ("the file was read in nndsl's key layout (`layers.NAME.…`); if it is another "
               "module's whose attribute is called `layers`, say `layout: other`")


def _pairs(init: InitPlan, layer: LayerInit,
           own: dict[str, torch.Tensor]) -> list[tuple[str, str, str | None]]:
    """(checkpoint key, this network's key, a problem or None) for each tensor of `layer`.

    nndsl's layout names tensors alike on both sides. Another layout's tensor (`weight` of a
    plain `nn.Linear`) goes into this layer's one tensor with that last name (`0.weight`)."""
    prefix = layer_prefix(layer.layer)
    if init.layout == "nndsl":
        return [(init.strip_prefix + layer_prefix(layer.source) + tensor, prefix + tensor, None)
                for tensor in layer.tensors]
    mine = [key[len(prefix):] for key in own if key.startswith(prefix)]
    pairs: list[tuple[str, str, str | None]] = []
    for tensor in layer.tensors:
        source = f"{init.strip_prefix}{layer.source}.{tensor}"
        matches = [name for name in mine if name == tensor or name.endswith("." + tensor)]
        problem = None if len(matches) == 1 else (
            f"this network's layer has no `{tensor}` tensor" if not matches else
            f"`{tensor}` could go into any of {', '.join(matches)}")
        pairs.append((source, prefix + (matches[0] if matches else tensor), problem))
    return pairs


def _mismatch(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], source: str,
              target: str) -> str | None:
    """Why `state[source]` cannot go into `own[target]`, or None when it can."""
    if source not in state:
        return f"it has no `{source}` any more"
    if target not in own:
        return f"this network's layer has no `{target.rsplit('.', 1)[-1]}` tensor"
    if state[source].shape != own[target].shape:
        return (f"`{source}` has shape {tuple(state[source].shape)}, this network's "
                f"{tuple(own[target].shape)}")
    return None
