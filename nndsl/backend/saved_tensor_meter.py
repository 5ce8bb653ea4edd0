"""Backend stage: counting the bytes autograd keeps for backward — the measured peak that runs
with a memory budget report (`nndsl.backend.callbacks.activation_peak`), and the oracle the
tests and benchmarks check the planner's estimates against.

In: a forward and backward pass run inside `SavedTensorMeter`. Out: the bytes saved for backward,
each storage counted once, both in total (everything ever saved) and at the peak (the most alive
at one moment, storages being released as the backward pass frees them).

Python's tracemalloc cannot see tensor memory, and CPU tensors have no allocator statistics, so
the meter watches `torch.autograd.graph.saved_tensors_hooks`: each saved tensor's storage is
counted when packed and uncounted when its storage is freed (a finalizer on the storage object,
which torch keeps alive exactly as long as the storage).

`torch.utils.checkpoint` (non-reentrant) installs its own hooks inside a checkpointed region, so
the tensors it saves while recomputing never reach an outer hook. `recompute_context` gives
`checkpoint(..., context_fn=...)` a context that, during recomputation, counts each saved tensor
and then hands it to checkpoint's own hook, found with torch's private
`_top_saved_tensors_default_hooks`: `counts_recomputation()` says whether this torch has it, and
training measures only where it does (a measurement must not be what breaks a run).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch.autograd.graph import saved_tensors_hooks


def counts_recomputation() -> bool:
    """Whether this torch offers the private hook lookup `recompute_context` relies on."""
    return hasattr(torch._C._autograd, "_top_saved_tensors_default_hooks")


class SavedTensorMeter:
    """Context manager counting saved-for-backward bytes per storage; `peak_bytes`, `total_bytes`.

    Args:
        exclude: tensors whose storages are not counted (parameters, the input batch).
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self.excluded = {tensor.untyped_storage().data_ptr() for tensor in exclude}
        self.live: dict[int, int] = {}
        self.live_bytes = 0
        self.peak_bytes = 0
        self.total_bytes = 0
        self._hooks = saved_tensors_hooks(self._pack, lambda tensor: tensor)

    def __enter__(self) -> SavedTensorMeter:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exception: Any) -> None:
        self._hooks.__exit__(*exception)

    def record(self, tensor: torch.Tensor) -> None:
        """Count a tensor's storage until it is freed (once per storage)."""
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer in self.excluded or pointer in self.live or storage.nbytes() == 0:
            return
        self.live[pointer] = storage.nbytes()
        self.live_bytes += storage.nbytes()
        self.total_bytes += storage.nbytes()
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        weakref.finalize(storage, self._release, pointer)

    def _release(self, pointer: int) -> None:
        self.live_bytes -= self.live.pop(pointer, 0)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self.record(tensor)
        return tensor

    def recompute_context(self) -> tuple[contextlib.AbstractContextManager,
                                         contextlib.AbstractContextManager]:
        """A `context_fn` for `torch.utils.checkpoint`: counts what recomputation saves."""
        return contextlib.nullcontext(), _CountingRecompute(self)


class _CountingRecompute(contextlib.AbstractContextManager):
    """During recomputation: count each saved tensor, then pass it to checkpoint's own hooks."""

    def __init__(self, meter: SavedTensorMeter):
        self.meter = meter
        self.hooks: saved_tensors_hooks | None = None

    def __enter__(self) -> _CountingRecompute:
        top = torch._C._autograd._top_saved_tensors_default_hooks(False)
        assert top is not None, (
            "recompute_context runs inside torch.utils.checkpoint's recomputation")
        pack, unpack = top

        def counting_pack(tensor: torch.Tensor) -> Any:
            self.meter.record(tensor)
            return pack(tensor)

        self.hooks = saved_tensors_hooks(counting_pack, unpack)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exception: Any) -> None:
        assert self.hooks is not None
        self.hooks.__exit__(*exception)
