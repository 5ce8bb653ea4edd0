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
    """Anything else in the pickle: never called, never imported."""

    def __init__(self, *arguments: Any, **keywords: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


def _rebuild_tensor(storage: Any, offset: int, size: tuple[int, ...], *rest: Any) -> _Tensor:
    return _Tensor(size)


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data


class _ShapeUnpickler(pickle.Unpickler):
    # Only dictionaries and tensor rebuilders are recognised; every other global becomes an inert
    # placeholder, so reading a checkpoint runs no code from it.
    _KNOWN = {("collections", "OrderedDict"): OrderedDict, ("builtins", "dict"): dict,
              ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
              ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
              ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
              ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter}

    def find_class(self, module: str, name: str) -> Any:
        return self._KNOWN.get((module, name), _Opaque)

    def persistent_load(self, pid: Any) -> None:
        return None


def checkpoint_shapes(path: Path) -> dict[str, tuple[int, ...]] | None:
    """Tensor shapes by state-dict key in a `torch.save` file (zip format), without torch; a
    Lightning checkpoint's `state_dict` counts, its `network.` prefix dropped. None if unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((item for item in archive.namelist() if item.endswith("/data.pkl")), None)
            if name is None:
                return None
            value = _ShapeUnpickler(archive.open(name)).load()
    except Exception:  # noqa: BLE001 - any unreadable file is the same user error
        return None
    if isinstance(value, dict) and isinstance(value.get("state_dict"), dict):
        value = {key.removeprefix("network."): item for key, item in value["state_dict"].items()}
    if not isinstance(value, dict):
        return None
    return {str(key): tuple(item) for key, item in value.items() if isinstance(item, _Tensor)}
