"""Backend stage: a Lightning data module that reads examples from an `ExampleStore` as batches
ask for them, with fixed-size or length-bucketed batches.

In: an `ExampleStore` (a lazy source's files, or `DataArrays` in memory), the spec's batch size
or frame budget (`batch_frames`), split fractions, seed and worker count. Out: training,
validation and test loaders whose batches are the dicts `ArrayDataModule` yields (same keys,
padding, dtypes). Nothing is materialised whole: a split is an index array, and a batch reads
only its own examples (`ExampleStore.examples`, one call per batch through `__getitems__`).

Fixed batch size: the training loader is built exactly as `ArrayDataModule` builds it (a
`StatefulDataLoader` shuffling with a generator seeded with `seed`), so the batches equal the
in-memory path's, and under DDP Lightning's injected `DistributedSampler` hands each process its
own share of indices: each process reads only its shard.
`batch_frames`: a `BucketBatchSampler` yields the batches `nndsl.data.bucketing` plans, in an
order drawn from (seed, epoch). Lightning calls `set_epoch` on the batch sampler's `sampler`
each epoch; under DDP it re-creates the batch sampler with its `DistributedSampler` in that
place, whose rank and replica count pick this process's batches. The sampler keeps no state of
its own: after a mid-epoch resume torchdata's loader replays the epoch's order and skips the
batches already trained on, reading none of them.
Worker processes (`num_workers`) each receive a pickled store and open the files themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler, Sampler
from torchdata.stateful_dataloader import StatefulDataLoader

from nndsl.backend.datamodule import pad_collate
from nndsl.backend.shared_statistics import fit_shared_statistics
from nndsl.backend.training_loader import TrainingLoaderControl
from nndsl.data.bucketing import batches_per_epoch, bucket_batches, epoch_batches
from nndsl.data.lazy_store import ExampleStore
from nndsl.data.registry import DataSourceError
from nndsl.data.splits import split_indices
from nndsl.data.standardize import FeatureStatistics

Batch = dict[str, torch.Tensor]


def _tensor(value: Any) -> torch.Tensor:
    """As `ArrayDataset` converts: floating values in torch's default dtype, integers int64.
    A copy: a store's arrays may be read-only views of a file (kaldiio's buffer, a memory map)."""
    tensor = torch.tensor(value)
    return tensor.to(torch.get_default_dtype()) if tensor.is_floating_point() else tensor.long()


class StoreView:
    """One split of a store: its rows, without reading them (what `splits.train` is here)."""

    def __init__(self, store: ExampleStore, indices: Any) -> None:
        self.store, self.indices = store, indices
        self.feature_names = store.feature_names

    def __len__(self) -> int:
        return len(self.indices)


class StoreSplits:
    """The three splits; `valid` and `test` are None when not asked for (as `DataSplits`)."""

    def __init__(self, train: StoreView, valid: StoreView | None, test: StoreView | None):
        self.train, self.valid, self.test = train, valid, test


class DataReadError(DataSourceError):
    """A user error in the data found while a batch was read (a damaged utterance, NaN).

    torch re-raises a worker process's exception in the training process as
    `type(text with the worker's traceback)`, keeping no attribute; this error's text carries
    its code, field and hint, and its constructor reads them back from such a text.
    """

    SEPARATOR = "\x1f"

    def __init__(self, text: str) -> None:
        packed = text.rsplit(f"{type(self).__name__}: ", 1)[-1].strip()
        parts = packed.split(self.SEPARATOR)
        code, field, hint, message = parts if len(parts) == 4 else ("E412", "", "", packed)
        super().__init__(message, field or None, hint or None, code)

    def __str__(self) -> str:
        return self.SEPARATOR.join((self.code, self.field or "", self.hint or "", self.message))

    @classmethod
    def of(cls, error: DataSourceError) -> DataReadError:
        return cls(cls.SEPARATOR.join((error.code, error.field or "", error.hint or "",
                                       error.message)))


class StoreDataset(Dataset):
    """The examples of one split, read from the store when a batch asks for them; with
    `statistics`, inputs standardised as they are read."""

    def __init__(self, view: StoreView, statistics: FeatureStatistics | None = None) -> None:
        self.store, self.indices = view.store, view.indices
        self.statistics = statistics

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> Batch:
        return self.__getitems__([position])[0]

    def __getitems__(self, positions: list[int]) -> list[Batch]:
        # One store call per batch: memory-mapped and Arrow stores read a batch in one slice.
        try:
            examples = self.store.examples([int(self.indices[position])
                                            for position in positions])
        except DataSourceError as error:
            raise DataReadError.of(error) from None
        if self.statistics is not None:  # frames [T, *frame] or one example: both broadcast
            for example in examples:
                example["inputs"] = self.statistics.apply(example["inputs"])
        return [{key: _tensor(value) for key, value in example.items()} for example in examples]


class EpochCounter(Sampler):
    """The `sampler` of a `BucketBatchSampler` outside DDP: it only holds the epoch that
    Lightning sets each epoch (its own indices are never drawn)."""

    def __init__(self, count: int) -> None:
        self.count, self.epoch = count, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(range(self.count))

    def __len__(self) -> int:
        return self.count


class BucketBatchSampler(BatchSampler):
    """Batches of similar length under a frame budget (see the module docstring).

    Args:
        sampler: an `EpochCounter`, or the `DistributedSampler` Lightning puts in its place
            under DDP (its `rank` and `num_replicas` choose this process's batches).
        batch_size, drop_last: unused; the `BatchSampler` signature Lightning re-creates by.
        batches: positions per batch, from `bucket_batches`.
        seed: the seed of the epoch order.
        shuffle: False for evaluation: the planned order every epoch, every batch in every
            process (as evaluation under DDP works in `ArrayDataModule`).
        epoch_source: returns the epoch being trained, or None to read the sampler's epoch.
            A loader with worker processes draws its first batches when its iterator is made,
            which a resumed run does before Lightning's `set_epoch`: the trainer's own epoch
            count is right at that moment too.
    """

    def __init__(self, sampler: Any, batch_size: int = 1, drop_last: bool = False,
                 batches: tuple = (), seed: int = 0, shuffle: bool = True,
                 epoch_source: Any = None) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.batches, self.seed, self.shuffle = batches, seed, shuffle
        self.epoch_source = epoch_source

    def _share(self) -> tuple[int, int]:
        if not self.shuffle:
            return 0, 1
        return getattr(self.sampler, "rank", 0), getattr(self.sampler, "num_replicas", 1)

    def __iter__(self):
        # A generator: the epoch is read at the first batch, after Lightning's `set_epoch`.
        if not self.shuffle:
            yield from (batch.tolist() for batch in self.batches)
            return
        rank, replicas = self._share()
        epoch = self.epoch_source() if self.epoch_source is not None else None
        if epoch is None:
            epoch = getattr(self.sampler, "epoch", 0)
        for batch in epoch_batches(list(self.batches), self.seed, epoch, rank, replicas):
            yield batch.tolist()

    def __len__(self) -> int:
        return batches_per_epoch(len(self.batches), self._share()[1])


class StreamingDataModule(TrainingLoaderControl, LightningDataModule):
    """Seeded splits of an `ExampleStore` and loaders that read it lazily.

    Args:
        store: the examples.
        batch_size: examples per batch when `batch_frames` is None.
        valid_fraction, test_fraction: shares of all examples for validation and testing.
        seed: seed of the splits and of the training order.
        num_workers: loader worker processes.
        batch_frames: the padded-frame budget per batch, or None for fixed-size batches.
        standardize: standardise inputs with statistics fitted on the training split in one
            pass over it, `batch_size` examples at a time (`nndsl.data.standardize`); they are
            kept as `feature_statistics`.
        shared_statistics: fit them in `setup`, once the trainer has started its processes:
            under DDP the processes fit them together, each reading its share of the split
            (`nndsl.backend.shared_statistics`); False fits them here, in this process.
        shuffle: shuffle the training split each epoch; False keeps stream order (online
            training: with `batch_size` 1, one example read per update, resumable in mid-epoch
            as the shuffled loader is).

    Raises:
        DataSourceError: an empty split, or an example longer than `batch_frames` (E492).
    """

    def __init__(self, store: ExampleStore, batch_size: int, valid_fraction: float = 0.0,
                 test_fraction: float = 0.0, seed: int = 0, num_workers: int = 0,
                 batch_frames: int | None = None, standardize: bool = False,
                 shared_statistics: bool = False, shuffle: bool = True) -> None:
        super().__init__()
        self.shuffle_training = shuffle
        self.store, self.batch_size, self.seed = store, batch_size, seed
        self.num_workers, self.batch_frames = num_workers, batch_frames
        self.class_names = store.class_names
        self.lexicon, self.grammar = store.lexicon, store.grammar
        rows = split_indices(len(store), valid_fraction, test_fraction, seed,
                             fixed_test=store.test_indices)
        self.splits = StoreSplits(StoreView(store, rows.train),
                                  StoreView(store, rows.valid) if len(rows.valid) else None,
                                  StoreView(store, rows.test) if len(rows.test) else None)
        # Planned here, before the Trainer starts: an example over the budget is a user error.
        self.batches: dict[str, tuple] = {}
        if batch_frames is not None:
            for name in ("train", "valid", "test"):
                view = getattr(self.splits, name)
                if view is not None:
                    lengths = store.input_lengths[view.indices]
                    ids = (None if store.example_ids is None else
                           [store.example_ids[int(row)] for row in view.indices])
                    self.batches[name] = tuple(bucket_batches(lengths, batch_frames, ids))
        self.standardize = standardize
        self._feature_statistics: FeatureStatistics | None = None
        self._statistics_listeners: list[Callable[[FeatureStatistics], None]] = []
        self._datasets = {name: None if view is None else StoreDataset(view)
                          for name, view in (("train", self.splits.train),
                                             ("valid", self.splits.valid),
                                             ("test", self.splits.test))}
        if standardize and not shared_statistics:
            self._fit_statistics()
        self._hide_hooks_of_missing_splits()

    @property
    def feature_statistics(self) -> FeatureStatistics | None:
        """The training split's statistics with `standardize`, fitted on first use if `setup`
        has not fitted them yet; None without `standardize`."""
        if self.standardize and self._feature_statistics is None:
            self._fit_statistics()
        return self._feature_statistics

    def when_statistics_fitted(self, listener: Callable[[FeatureStatistics], None]) -> None:
        """Call `listener(statistics)` once they are fitted (now, if they are)."""
        if self._feature_statistics is not None:
            listener(self._feature_statistics)
        else:
            self._statistics_listeners.append(listener)

    def setup(self, stage: str | None = None) -> None:
        """Fit the statistics if not yet: called in every process once the trainer has started
        them, so a process group fits them together."""
        if self.standardize and self._feature_statistics is None:
            self._fit_statistics()

    def _fit_statistics(self) -> None:
        statistics = fit_shared_statistics(self.store, self.splits.train.indices,
                                           self.batch_size)
        self._feature_statistics = statistics
        for dataset in self._datasets.values():
            if dataset is not None:
                dataset.statistics = statistics
        for listener in self._statistics_listeners:
            listener(statistics)
        self._statistics_listeners.clear()

    def current_epoch(self) -> int | None:
        """The attached trainer's epoch (restored from a checkpoint on resume), or None."""
        trainer = getattr(self, "trainer", None)
        return None if trainer is None else trainer.current_epoch

    def train_batches_per_epoch(self, replicas: int = 1) -> int:
        """Training steps per epoch in each of `replicas` processes (before Lightning's
        `limit_train_batches`). Bagging's loader takes fixed-size batches of the N bootstrap
        positions, bucketed or not."""
        if self.batch_frames is None or self.bootstrap is not None:
            return batches_per_epoch(-(-len(self.splits.train) // self.batch_size), replicas)
        return batches_per_epoch(len(self.batches["train"]), replicas)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self._datasets[split]
        assert dataset is not None, f"no {split} split; the hook is shadowed in __init__"
        generator = torch.Generator().manual_seed(self.seed)  # see ArrayDataModule._loader
        # The training loader is resumable in mid-epoch, shuffled or (online) in stream order: a
        # `StatefulDataLoader` over a sequential sampler then, whose saved state is the position
        # in the stream.
        resumable = split == "train"
        loader_class = StatefulDataLoader if resumable else DataLoader
        common = {"collate_fn": pad_collate, "num_workers": self.num_workers,
                  "persistent_workers": self.num_workers > 0, "generator": generator}
        if self.batch_frames is not None:
            batch_sampler = BucketBatchSampler(EpochCounter(len(dataset)), 1, False,
                                               batches=self.batches[split], seed=self.seed,
                                               shuffle=shuffle, epoch_source=self.current_epoch)
            return loader_class(dataset, batch_sampler=batch_sampler, **common)
        sampler = None if resumable else DistributedSampler(
            dataset, num_replicas=1, rank=0, shuffle=False)
        return loader_class(dataset, batch_size=self.batch_size, shuffle=shuffle,
                            sampler=sampler, **common)

    def val_dataloader(self) -> DataLoader:
        """In order; every process evaluates the whole split."""
        return self._loader("valid", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """In order; every process evaluates the whole split."""
        return self._loader("test", shuffle=False)
