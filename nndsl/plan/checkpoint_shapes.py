"""Tensor shapes in a `torch.save` file, read without torch and without running its code.

Used to check a `classifier_from` checkpoint against the graph at validation time (E414), where
torch may not be imported. Imported only by specs that name a checkpoint.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any


class _Tensor(tuple):
    """A tensor's shape, standing in for the tensor."""


class _Opaque:
    """A torch type, dtype or storage named in the pickle: stands in for it, never called."""

    def __init__(self, *arguments: Any, **keywords: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class CheckpointRefused(Exception):
    """The file is not a checkpoint this reader accepts; the message says why."""


def _rebuild_tensor(storage: Any, offset: int, size: tuple[int, ...], *rest: Any) -> _Tensor:
    return _Tensor(size)


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data


#: Modules whose names torch's weights-only loader accepts (types, dtypes, storages, tensor
#: rebuilders); here they become inert placeholders. Anything else is refused, as torch would.
_TORCH_MODULES = {"torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse", "torch.storage",
                  "torch._utils", "torch._tensor", "torch.serialization", "torch.nn.parameter"}
#: The largest pickle part read (tensor data lives in other archive members): a bound on memory.
_MAX_PICKLE_BYTES = 64 * 2**20


class _ShapeUnpickler(pickle.Unpickler):
    # Only containers and tensor rebuilders are recognised; torch's own types become inert
    # placeholders and every other global is refused, so reading a checkpoint runs no code from it.
    _KNOWN = {("collections", "OrderedDict"): OrderedDict, ("builtins", "dict"): dict,
              ("builtins", "set"): set, ("collections", "Counter"): dict,
              ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
              ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
              ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
              ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._KNOWN:
            return self._KNOWN[(module, name)]
        if module in _TORCH_MODULES:
            return _Opaque
        raise CheckpointRefused(f"it holds a pickled `{module}.{name}`, which only running code "
                                "could rebuild; nndsl reads tensors and plain data only")

    def persistent_load(self, pid: Any) -> None:
        return None


def checkpoint_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes by state-dict key in a `torch.save` file (zip format), without torch; a
    Lightning checkpoint's `state_dict` counts, its `network.` prefix dropped.

    Raises:
        CheckpointRefused: the file is not a torch zip file, is damaged, holds no state dict, or
            names code in its pickle (said in the message).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((item for item in archive.infolist()
                           if item.filename.endswith("/data.pkl")), None)
            if member is None:
                raise CheckpointRefused("it is a zip archive without a pickle, not a torch.save "
                                        "file")
            if member.file_size > _MAX_PICKLE_BYTES:
                raise CheckpointRefused(f"its pickle part is {member.file_size:,} bytes; a state "
                                        "dict's is far smaller")
            value = _ShapeUnpickler(archive.open(member)).load()
    except CheckpointRefused:
        raise
    except zipfile.BadZipFile:
        raise CheckpointRefused("it is truncated or not a torch.save file") from None
    except Exception as error:  # noqa: BLE001 - any damage to the pickle is the same user error
        raise CheckpointRefused(f"its pickle is damaged ({type(error).__name__})") from None
    if isinstance(value, dict) and isinstance(value.get("state_dict"), dict):
        value = {key.removeprefix("network."): item for key, item in value["state_dict"].items()}
    if not isinstance(value, dict):
        raise CheckpointRefused("it holds no state dict")
    return {str(key): tuple(item) for key, item in value.items() if isinstance(item, _Tensor)}
