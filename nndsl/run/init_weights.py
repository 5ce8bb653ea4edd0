"""Run stage: `init_from:` carried out as the plan decided it.

In: the network and an `InitPlan` (the file, and per layer the checkpoint layer and tensor names
it loads). Out: the network with those tensors copied in; nothing else changes. The file is read
through `nndsl.run.safe_load`, the one reader that runs no code from a checkpoint.

Nothing is decided here: the plan stage matched layers, sizes and names at validation. The checks
below only catch a file that changed (or vanished) since then, reported as the diagnostics the
plan stage uses (exit 2, no traceback).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nndsl.diagnostics import Diagnostic, SpecError
from nndsl.plan import InitPlan, Plan
from nndsl.state_names import layer_prefix
from nndsl.run.safe_load import UnreadableCheckpoint, read_state_dict


def check_init_sources(plan: Plan) -> None:
    """Every `init_from` file exists (validation only warns about one still to be trained).

    Raises:
        SpecError: E335 for each missing file, before the run directory is made.
    """
    plans = [plan.init, *(phase.init for phase in plan.phases)]
    missing = [init for init in plans if init is not None
               and (not init.checked or not Path(init.file).is_file())]
    if missing:
        raise SpecError([Diagnostic("E335", f"init_from: `{init.source}` does not exist", None,
                                    "train the run it comes from first "
                                    "(`nndsl train SPEC --run-dir DIR`)") for init in missing])


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
        for tensor in layer.tensors:
            source = layer_prefix(layer.source) + tensor
            target = layer_prefix(layer.layer) + tensor
            problem = _mismatch(state, own, source, target)
            if problem:
                raise SpecError([Diagnostic(
                    "E466", f"init_from: `{init.file}` does not fit layer `{layer.layer}`: "
                    f"{problem}", None, "check that the file has not changed since "
                    "`nndsl validate`, and that the layers loaded have the same type")])
            values[target] = state[source].to(own[target].dtype)
    with torch.no_grad():
        network.load_state_dict(values, strict=False)
    return sum(value.numel() for value in values.values())


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
