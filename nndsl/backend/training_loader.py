"""Backend stage: what the run stage may ask of a data module's training loader.

In: a data module that keeps its datasets in `_datasets` ("train", ...) and builds loaders with
`_loader(split, shuffle)` (`ArrayDataModule`, `StreamingDataModule`). Out: the mixin
`TrainingLoaderControl`, whose `train_dataloader` asks `_loader` for the training split shuffled
or in stream order as the module's `shuffle_training` says (False for online training, where the
examples arrive one at a time in their order), and honours two explicit requests:
  - `use_bootstrap_samples(members, seed)` (bagging): from then on the training loader yields
    member-major batches `{"inputs": [M, B, ...], "targets": [M, B, ...]}`, member m's rows drawn
    from its own bootstrap sample of the training split (`nndsl.backend.ensemble.data`);
  - `resume_shuffle(state)`: the next training loader starts its shuffling generator from a
    resumed run's saved state instead of the seed (`nndsl.backend.callbacks.random_state`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from nndsl.backend.ensemble.data import BootstrapSamples, bootstrap_indices, bootstrap_loader


class TrainingLoaderControl:
    """Bagging and resumed shuffling for a data module's training loader (see the module)."""

    # Class-level defaults: the data modules' own constructors need not know of them.
    bootstrap: BootstrapSamples | None = None  # bagging: each member's own sample
    _bootstrap_seed: int = 0
    _shuffle_state: torch.Tensor | None = None  # for the next training loader only
    shuffle_training: bool = True  # False: the training split in stream order (online training)
    _datasets: dict[str, Any]
    batch_size: int
    num_workers: int

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        raise NotImplementedError

    def train_batches_per_epoch(self, replicas: int = 1) -> int:
        """Training batches per epoch in each of `replicas` processes, counted from the data's
        sizes without building a loader (a per-step schedule's length needs it before Lightning
        restores a resumed run's loader: `nndsl.backend.optimizers.stepping_batches`)."""
        raise NotImplementedError

    def use_bootstrap_samples(self, members: int, seed: int) -> None:
        """From now on the training loader yields member-major bootstrap batches (bagging), the
        samples reproducible from `seed`."""
        setup = getattr(self, "setup", None)
        if setup is not None:
            setup("fit")  # builds the datasets where a data module makes them lazily
        train = self._datasets["train"]
        self.bootstrap = BootstrapSamples(train, bootstrap_indices(len(train), members, seed))
        self._bootstrap_seed = seed

    @property
    def bootstrap_indices(self) -> torch.Tensor | None:
        """Each member's bootstrap sample, example indices [M, N]; None without bagging."""
        return None if self.bootstrap is None else self.bootstrap.indices

    def resume_shuffle(self, state: torch.Tensor) -> None:
        """The next training loader starts its shuffling generator from `state` (a resumed
        run's, saved in its checkpoint) instead of the seed; later loaders start from the seed."""
        self._shuffle_state = state

    def train_dataloader(self) -> DataLoader:
        """Shuffled each epoch by a generator seeded once with the data module's seed (or with
        the bootstrap seed under bagging), or started from a resumed run's state; in stream order
        where `shuffle_training` is False."""
        if self.bootstrap is not None:
            loader: DataLoader = bootstrap_loader(self.bootstrap, self.batch_size,
                                                  self._bootstrap_seed, self.num_workers)
        else:
            loader = self._loader("train", shuffle=self.shuffle_training)
        if self._shuffle_state is not None:
            assert loader.generator is not None  # every training loader has its own
            loader.generator.set_state(self._shuffle_state)
            self._shuffle_state = None
        return loader

    def _hide_hooks_of_missing_splits(self) -> None:
        """Call once `self.splits` is set (both data modules' constructors do)."""
        # Lightning runs a validation or test loop only where the data module overrides the
        # loader hook. Shadowing a missing split's hook with the base class's own makes this
        # instance count as not overriding it, so Lightning skips the loop instead of iterating
        # an empty loader.
        if self.splits.valid is None:
            self.val_dataloader = super().val_dataloader  # type: ignore[method-assign]
        if self.splits.test is None:
            self.test_dataloader = super().test_dataloader  # type: ignore[method-assign]

    def __getstate__(self) -> dict[str, Any]:
        # A pickled bound method would come back bound to this class's hook (spawned DDP
        # processes unpickle the module), so the shadows are dropped and rebuilt instead.
        state = self.__dict__.copy()
        state.pop("val_dataloader", None)
        state.pop("test_dataloader", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hide_hooks_of_missing_splits()
