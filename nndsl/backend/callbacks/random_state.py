"""Backend callback: the running state a checkpoint carries so that a resumed run is the
uninterrupted one.

In: a run on Lightning's Trainer (through callback hooks). Out: `RandomState`, a callback whose
state, saved in every checkpoint (`last.ckpt`), holds
  - the global random states of torch (CPU and CUDA), NumPy and Python, collected and set with
    Lightning's own helpers: dropout masks, Gaussian and variational noise and the recomputed
    recurrent layers' dropout seeds all draw from torch's global generator;
  - the training loader's shuffling generator (for a checkpoint at an epoch's end, when Lightning
    does not restore the loader's state and the loader is built afresh);
  - for a checkpoint taken in mid-epoch, the epoch's running sums of the training metrics logged
    per epoch (`train/loss`): Lightning keeps them in the training loop's result collection,
    which no checkpoint holds, so without them the resumed epoch's `train/loss` would average
    only the batches after the interruption.
The rest comes from Lightning and torchdata: the loop's batch position (`batch_progress`), and
the training loader's position in the epoch (the `StatefulDataLoader`'s state, which Lightning's
fit loop saves and loads back when it restarts in mid-epoch).

Every value is a tensor or a plain number, so a checkpoint stays readable by a weights-only load
(`nndsl.run.safe_load`).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states
from lightning.pytorch import Callback


def _portable(states: dict[str, Any]) -> dict[str, Any]:
    """Lightning's collected random states with NumPy's and Python's as tensors and numbers."""
    portable = dict(states)
    version, words, gauss = states["python"]
    portable["python"] = {"version": version, "state": torch.tensor(words, dtype=torch.int64),
                          "gauss": gauss}
    if "numpy" in states:
        kind, keys, position, has_gauss, cached = states["numpy"]
        portable["numpy"] = {"kind": kind, "keys": torch.from_numpy(keys.astype("int64")),
                             "position": int(position), "has_gauss": int(has_gauss),
                             "cached_gaussian": float(cached)}
    return portable


def _native(portable: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `_portable`: the form `_set_rng_states` takes."""
    states = dict(portable)
    python = portable["python"]
    states["python"] = (python["version"], tuple(python["state"].tolist()), python["gauss"])
    if "numpy" in portable:
        import numpy

        numpy_state = portable["numpy"]
        states["numpy"] = (numpy_state["kind"], numpy_state["keys"].numpy().astype(numpy.uint32),
                           numpy_state["position"], numpy_state["has_gauss"],
                           numpy_state["cached_gaussian"])
    cuda = states.get("torch.cuda", [])
    if not torch.cuda.is_available() or len(cuda) != torch.cuda.device_count():
        states.pop("torch.cuda", None)  # resumed on another machine: CUDA's cannot be restored
    return states


class RandomState(Callback):
    """Carries the random states, the shuffling generator and the running epoch sums through a
    run's checkpoint (see the module docstring).

    Lightning builds the training loader (whose generator the data module seeds afresh) and its
    first iterator before any hook that could reach the loader, so the generator's state goes in
    through the data module (`ArrayDataModule.resume_shuffle`, at `on_fit_start`), which gives it
    to the next training loader it builds.
    """

    def __init__(self) -> None:
        self.trainer: Any = None
        self.pending: dict[str, Any] | None = None
        self.pending_sums: dict[str, dict[str, torch.Tensor]] = {}

    def setup(self, trainer: Any, module: Any, stage: str) -> None:
        self.trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        loader = getattr(trainer, "train_dataloader", None) if trainer is not None else None
        generator = getattr(loader, "generator", None)
        return {"random": _portable(_collect_rng_states()),
                "shuffle": None if generator is None else generator.get_state(),
                "mid_epoch": self._mid_epoch(), "epoch_sums": self._epoch_sums()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.pending = state_dict

    def on_fit_start(self, trainer: Any, module: Any) -> None:
        datamodule = trainer.datamodule
        shuffle = None if self.pending is None else self.pending.get("shuffle")
        if shuffle is None or datamodule is None:
            return
        datamodule.resume_shuffle(shuffle)

    def on_train_start(self, trainer: Any, module: Any) -> None:
        pending = self.pending or {}
        if pending.get("mid_epoch") and pending.get("shuffle") is not None:
            # The loader has resumed its epoch's order (its sampler replays the permutation from
            # the epoch's first state) but leaves its generator short of the draw the epoch's
            # iterator made for its base seed; the next epoch's order needs the exact state.
            generator = getattr(trainer.train_dataloader, "generator", None)
            if generator is not None:
                generator.set_state(pending["shuffle"])
        if self.pending is not None:
            if "random" in self.pending:
                _set_rng_states(_native(self.pending["random"]))
            else:  # a checkpoint written before NumPy's and Python's states were kept
                torch.set_rng_state(self.pending["torch"])
            self.pending_sums = self.pending.get("epoch_sums") or {}
        self.pending = None

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any,
                           batch_index: int) -> None:
        # The first batch after a mid-epoch resume has logged into fresh sums; the interrupted
        # part of the epoch goes back in now. Addition commutes exactly in floating point, so
        # saved + (0 + x) equals the uninterrupted run's saved + x bit for bit.
        if self.pending_sums:
            results = trainer.fit_loop.epoch_loop._results
            for key, saved in self.pending_sums.items():
                if key in results:
                    _fold(results[key], saved)
            self.pending_sums = {}

    def _mid_epoch(self) -> bool:
        """Whether a checkpoint taken now falls between two training batches of one epoch."""
        trainer = self.trainer
        if trainer is None or not trainer.training:
            return False
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        return 0 < progress.ready < trainer.num_training_batches

    def _epoch_sums(self) -> dict[str, dict[str, torch.Tensor]]:
        """The running sums of the epoch's training metrics when the checkpoint falls inside an
        epoch (none at its end: the epoch's values have been logged and are reset next)."""
        if not self._mid_epoch():
            return {}
        trainer = self.trainer
        sums = {}
        for key, metric in trainer.fit_loop.epoch_loop._results.items():
            if metric.is_tensor and metric.meta.on_epoch:
                if key in self.pending_sums:  # saved again before the fold: fold a copy here
                    metric = _Sums(metric.meta, metric.value,
                                   getattr(metric, "cumulated_batch_size", None))
                    _fold(metric, self.pending_sums[key])
                sums[key] = {"value": metric.value.clone()}
                if metric.meta.is_mean_reduction:
                    sums[key]["cumulated_batch_size"] = metric.cumulated_batch_size.clone()
        for key, saved in self.pending_sums.items():
            sums.setdefault(key, saved)
        return sums


class _Sums:
    """A result metric's sums detached from it (for folding a copy)."""

    def __init__(self, meta: Any, value: torch.Tensor,
                 cumulated_batch_size: torch.Tensor | None) -> None:
        self.meta, self.value, self.cumulated_batch_size = meta, value, cumulated_batch_size


def _fold(metric: Any, saved: dict[str, torch.Tensor]) -> None:
    """Combine a result metric's sums since the resume with the interrupted part's `saved`."""
    value = saved["value"].to(metric.value.device)
    if metric.meta.is_max_reduction or metric.meta.is_min_reduction:
        metric.value = metric.meta.reduce_fx(value, metric.value)
    else:
        metric.value = value + metric.value
    if "cumulated_batch_size" in saved and metric.meta.is_mean_reduction:
        count = saved["cumulated_batch_size"].to(metric.cumulated_batch_size.device)
        metric.cumulated_batch_size = count + metric.cumulated_batch_size
