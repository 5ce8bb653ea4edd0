"""Run stage: the one way nndsl reads a file written by `torch.save`.

In: a path to a checkpoint a user can hand nndsl (a run's `last.ckpt` / `best.ckpt`, a
`state.pt`, `final_weights.pt`, a `classifier_from` file). Out: its contents — plain data
(dicts, lists, numbers, strings) and tensors — or `UnreadableCheckpoint` naming the file and why.

A `torch.save` file is a pickle, and unpickling an arbitrary pickle runs whatever code it names.
Every read goes through `torch.load(..., weights_only=True)`, whose unpickler only rebuilds
tensors and plain containers and refuses any other global before calling anything. What nndsl
and Lightning write (state dicts, optimiser states, loop and callback states, torch's random
state as a byte tensor) is all of that kind, so no allow-list is needed; a file that needs
more was not written by nndsl and is refused. Lightning's own loading of `last.ckpt` on resume
is told `weights_only=True` too (`run/session.py`), after this reader has checked the file.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

_GLOBAL = re.compile(r"GLOBAL (\S+)")


class UnreadableCheckpoint(Exception):
    """A checkpoint that cannot be read safely: missing, truncated, not a checkpoint, or one
    whose pickle names code. A user error (exit 2), never a traceback.

    Attributes:
        path: the file.
        reason: why, in words.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"checkpoint {path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def read_checkpoint(path: str | Path) -> Any:
    """The contents of a `torch.save` file, read without running code from it, on the CPU.

    Raises:
        UnreadableCheckpoint: the file is missing, truncated, not a torch file, or holds objects
            other than tensors and plain data.
    """
    path = Path(path)
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise UnreadableCheckpoint(path, reason)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; the refusal below says enough.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnreadableCheckpoint(path, _refusal(str(error))) from None
    except PermissionError as error:
        raise UnreadableCheckpoint(path, f"cannot be opened ({error.strerror})") from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for a damaged file
        detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise UnreadableCheckpoint(path, f"is truncated or not a PyTorch checkpoint ({detail})") \
            from None


def _refusal(message: str) -> str:
    """Why the weights-only unpickler refused a file, in one line."""
    named = _GLOBAL.search(message)
    what = f"a pickled `{named.group(1)}`" if named else "pickle instructions beyond plain data"
    if "Weights only load failed" not in message:
        return f"is truncated or not a PyTorch checkpoint ({message.splitlines()[0][:200]})"
    return (f"holds {what}, which only running code could rebuild; nndsl reads tensors and "
            "plain data only, so it refuses the file")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict (name → tensor) from a `final_weights.pt` / `state.pt`, or the `state_dict`
    of a Lightning checkpoint with its `network.` prefix dropped.

    Raises:
        UnreadableCheckpoint: as `read_checkpoint`, or the file holds no state dict.
    """
    state = read_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = {str(key).removeprefix("network."): value
                 for key, value in state["state_dict"].items()}
    if not isinstance(state, dict) or not all(
            isinstance(key, str) and isinstance(value, torch.Tensor)
            for key, value in state.items()):
        raise UnreadableCheckpoint(path, "holds no state dict (parameter names to tensors)")
    return state


def read_lightning_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint (`last.ckpt`, `best.ckpt`), checked to hold a `state_dict`.

    Raises:
        UnreadableCheckpoint: as `read_checkpoint`, or the file is not a Lightning checkpoint.
    """
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UnreadableCheckpoint(path, "is not a Lightning checkpoint (it has no `state_dict`)")
    return checkpoint
