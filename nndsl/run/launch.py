"""Run stage: does the way the processes were started fit `trainer.num_nodes` and `devices`?

In: the spec's trainer section and the process's environment. Out: nothing, or a `LaunchError`
(one line, exit status 2) before any run directory is made, instead of Lightning's error from
deep inside the first phase or processes waiting forever for ranks that never come.

Launch conventions, as Lightning reads them (its cluster environments):

* torchrun (`TORCHELASTIC_RUN_ID`, `WORLD_SIZE`, `RANK`, ...) and SLURM's `srun`
  (`SLURM_NTASKS`, `SLURM_NNODES`, `SLURM_NTASKS_PER_NODE`, ...): Lightning's own
  `validate_settings` of the detected environment decides, its message passed on;
* by hand (Lightning's default environment): every node runs `nndsl train` with
  `MASTER_ADDR`, `MASTER_PORT` and its `NODE_RANK`, Lightning starting `devices` processes on
  each; `NODE_RANK` must lie below `num_nodes`, and a `WORLD_SIZE`, if set, must be
  `num_nodes × devices`.
"""

from __future__ import annotations

import os
from typing import Any


class LaunchError(Exception):
    """The launcher's processes do not fit the trainer settings (one line, exit 2)."""


HINT = "set trainer.num_nodes and trainer.devices to match the launch (--set works)"


def check_launch(trainer: Any) -> None:
    """Raise `LaunchError` when the environment contradicts `trainer.num_nodes` / `devices`."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    nodes, devices = trainer.num_nodes, trainer.devices
    for environment_class, launcher in ((TorchElasticEnvironment, "torchrun"),
                                        (SLURMEnvironment, "SLURM")):
        if not environment_class.detect():
            continue
        if devices == "auto":  # Lightning resolves it from the hardware later; nodes only here
            return _check_nodes(launcher, nodes, environment_class)
        try:
            environment_class().validate_settings(num_devices=devices, num_nodes=nodes)
        except ValueError as error:
            raise LaunchError(f"{launcher}: {error} ({HINT})") from None
        return None
    node_rank = os.environ.get("NODE_RANK")
    if node_rank is not None and node_rank.strip().isdigit() and int(node_rank) >= nodes:
        raise LaunchError(f"NODE_RANK is {node_rank}, but trainer.num_nodes is {nodes}: node ranks "
                          f"run from 0 to num_nodes - 1 ({HINT})")
    world = os.environ.get("WORLD_SIZE")
    if world is not None and world.strip().isdigit() and isinstance(devices, int) \
            and "LOCAL_RANK" not in os.environ and int(world) != nodes * devices:
        raise LaunchError(f"WORLD_SIZE is {world}, but trainer.num_nodes × trainer.devices is "
                          f"{nodes} × {devices} = {nodes * devices} ({HINT})")
    return None


def _check_nodes(launcher: str, nodes: int, environment_class: Any) -> None:
    environment = environment_class()
    if launcher == "torchrun":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0)
        launched = environment.world_size() // local if local else None
    else:
        launched = int(os.environ.get("SLURM_NNODES", "0") or 0) or None
    if launched is not None and launched != nodes:
        raise LaunchError(f"{launcher} started processes on {launched} node(s), but "
                          f"trainer.num_nodes is {nodes} ({HINT})")


def single_process(trainer: Any) -> bool:
    """Whether the trainer surely runs in this process alone. Otherwise a lazily read data set's
    statistics are fitted once the trainer has started its processes, by all of them together
    (`nndsl.backend.shared_statistics`); in one process, while the data is opened, so a data
    error comes before any run directory is made."""
    if trainer.num_nodes != 1 or os.environ.get("WORLD_SIZE", "1").strip() not in ("", "1"):
        return False
    if trainer.devices == "auto":
        if trainer.accelerator == "cpu":
            return True  # Lightning's CPU accelerator counts one device
        import torch

        return torch.cuda.device_count() <= 1
    return trainer.devices == 1
