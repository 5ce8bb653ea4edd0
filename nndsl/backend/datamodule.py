"""Backend stage: a Lightning data module over loaded `DataArrays`.

In: the `DataArrays` a data source loaded, the spec's batch size, split fractions, seed and worker
count. Out: training, validation and test `DataLoader`s whose batches are dicts
`{"inputs", "targets", "input_lengths"?, "target_lengths"?, "words"?, "word_lengths"?}` of
tensors, with variable-length sequences padded with zeros to the longest example in the batch
(not the longest in the set).

Determinism: the splits come from `nndsl.data.splits` (seeded), and the training loader shuffles
with its own seeded `torch.Generator`, so one process gives the same batches for the same seed.
The training loader is torchdata's `StatefulDataLoader`: its `state_dict` holds the sampler's
position in the epoch and the shuffling generator's state at the epoch's start, which Lightning
saves in every checkpoint and gives back when a run resumes in mid-epoch, so the resumed run
continues with the batch the interrupted one would have drawn next.
Under DDP, Lightning replaces the shuffling sampler with a `DistributedSampler` (its default
sampler injection, kept on purpose); that sampler is seeded from `PL_GLOBAL_SEED`, which
`lightning.seed_everything` sets, and re-shuffled each epoch by Lightning's `set_epoch` call.
The training loader (`train_dataloader`) and its two requests, bagging and a resumed shuffling
state, come from `nndsl.backend.training_loader`, shared with the streaming data module.
Validation and test loaders never shuffle, and under DDP every process evaluates the whole split
(see `_loader`); when a split is empty its hook is hidden from Lightning, which then skips that
loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader

from nndsl.backend.training_loader import TrainingLoaderControl
from nndsl.data.bucketing import batches_per_epoch
from nndsl.data.registry import DataArrays
from nndsl.data.splits import DataSplits, split_arrays
from nndsl.data.standardize import FeatureStatistics, standardize_splits

Batch = dict[str, torch.Tensor]


def _tensor(values: Any) -> torch.Tensor:
    """Floating arrays take torch's default dtype (the one layers are built in), integers int64."""
    tensor = torch.as_tensor(values)
    if tensor.is_floating_point():
        return tensor.to(torch.get_default_dtype())
    return tensor.long()


class ArrayDataset(Dataset):
    """Examples of a `DataArrays`, each cut to its own length when lengths are given.

    Args:
        arrays: the examples; converted to tensors once, here.
    """

    def __init__(self, arrays: DataArrays) -> None:
        self.inputs = _tensor(arrays.inputs)
        self.targets = _tensor(arrays.targets)
        self.input_lengths = None if arrays.input_lengths is None else _tensor(arrays.input_lengths)
        self.target_lengths = (
            None if arrays.target_lengths is None else _tensor(arrays.target_lengths)
        )
        self.words = None if arrays.words is None else _tensor(arrays.words)
        self.word_lengths = None if arrays.word_lengths is None else _tensor(arrays.word_lengths)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> Batch:
        example = {"inputs": self.inputs[index], "targets": self.targets[index]}
        # Cutting the padding here lets the collate pad to the batch's own longest example.
        if self.input_lengths is not None:
            length = self.input_lengths[index]
            example["inputs"] = example["inputs"][: int(length)]
            example["input_lengths"] = length
        if self.target_lengths is not None:
            length = self.target_lengths[index]
            example["targets"] = example["targets"][: int(length)]
            example["target_lengths"] = length
        if self.words is not None:  # reference words, for word accuracy
            length = self.word_lengths[index]
            example["words"] = self.words[index][: int(length)]
            example["word_lengths"] = length
        return example


def pad_collate(examples: list[Batch]) -> Batch:
    """Stack examples into a batch, zero-padding variable-length inputs and targets.

    Args:
        examples: dicts from `ArrayDataset`; all have the same keys.

    Returns:
        The batch dict; "inputs" and "targets" are padded along their first (time) axis when
        the examples carry "input_lengths" / "target_lengths".
    """
    batch: Batch = {}
    for key, lengths_key in (("inputs", "input_lengths"), ("targets", "target_lengths"),
                             ("words", "word_lengths")):
        if key not in examples[0]:
            continue
        values = [example[key] for example in examples]
        if lengths_key in examples[0]:
            batch[key] = pad_sequence(values, batch_first=True, padding_value=0)
            batch[lengths_key] = torch.stack([example[lengths_key] for example in examples])
        else:
            batch[key] = torch.stack(values)
    return batch


class ArrayDataModule(TrainingLoaderControl, LightningDataModule):
    """Seeded splits and loaders for one data set.

    Args:
        arrays: the whole data set, as the source loaded it.
        batch_size: examples per batch (the last batch may be smaller).
        valid_fraction: share of all examples for validation; 0 for none.
        test_fraction: share of all examples for testing; 0 for none (or a source's fixed set).
        seed: seed of the splits and of the training loader's shuffling.
        num_workers: loader worker processes; 0 loads in the training process.
        standardize: standardise every split's inputs with statistics of the training split
            (`nndsl.data.standardize`); they are kept as `feature_statistics`.
        shuffle: shuffle the training split each epoch; False keeps stream order (online training).

    Raises:
        DataSourceError: a requested split would be empty (see `nndsl.data.splits`).
    """

    def __init__(
        self,
        arrays: DataArrays,
        batch_size: int,
        valid_fraction: float = 0.0,
        test_fraction: float = 0.0,
        seed: int = 0,
        num_workers: int = 0,
        standardize: bool = False,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        self.shuffle_training = shuffle
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.class_names = arrays.class_names
        self.lexicon, self.grammar = arrays.lexicon, arrays.grammar  # for word decoding
        # Splitting here, not in setup(), surfaces an empty split before the Trainer starts.
        self.splits: DataSplits = split_arrays(arrays, valid_fraction, test_fraction, seed)
        self.feature_statistics: FeatureStatistics | None = None
        if standardize:
            self.feature_statistics, self.splits = standardize_splits(self.splits, batch_size)
        self._datasets: dict[str, ArrayDataset | None] = {}
        self._hide_hooks_of_missing_splits()

    def when_statistics_fitted(self, listener: Callable[[FeatureStatistics], None]) -> None:
        """Call `listener(statistics)` now if the inputs are standardised (they are fitted on
        the arrays in memory when the module is made)."""
        if self.feature_statistics is not None:
            listener(self.feature_statistics)

    def setup(self, stage: str | None = None) -> None:
        """Build the tensor datasets (once; every stage shares them)."""
        if not self._datasets:
            self._datasets = {
                "train": ArrayDataset(self.splits.train),
                "valid": None if self.splits.valid is None else ArrayDataset(self.splits.valid),
                "test": None if self.splits.test is None else ArrayDataset(self.splits.test),
            }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        # The training loader is resumable in mid-epoch, shuffled or (online) in stream order.
        resumable = split == "train"
        self.setup()
        dataset = self._datasets[split]
        assert dataset is not None, f"no {split} split; the hook is shadowed in __init__"
        # Every loader has its own generator, the evaluation loaders too: a loader without one
        # seeds its worker processes from torch's global generator whenever it starts them,
        # which would shift the dropout masks by the history of the process (a resumed run's
        # differs from the uninterrupted one's).
        generator = torch.Generator().manual_seed(self.seed)
        # Only the training loader is resumed in mid-epoch; evaluation loaders start afresh.
        loader_class = StatefulDataLoader if resumable else DataLoader
        # An evaluation loader's sampler is a one-replica `DistributedSampler`: every index once,
        # in order. Lightning keeps a distributed sampler it is given, so under DDP every process
        # evaluates the whole split instead of a share padded with repeated examples (an odd split
        # would count one example twice); the processes' values are then equal, and the metrics
        # early stopping and checkpointing read are the exact whole-split ones in every process.
        # Every process runs the same number of batches, so DDP's collectives stay in step.
        sampler = None if resumable else DistributedSampler(dataset, num_replicas=1, rank=0,
                                                         shuffle=False)
        return loader_class(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            generator=generator,
            collate_fn=pad_collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_batches_per_epoch(self, replicas: int = 1) -> int:
        """Training batches each of `replicas` processes runs per epoch (before Lightning's
        `limit_train_batches`), counted from the split's size without building a loader.

        Under DDP each process gets a `DistributedSampler` share of ceil(N / replicas)
        examples, in batches of `batch_size`; ceil(ceil(N / replicas) / batch_size) equals
        ceil(ceil(N / batch_size) / replicas). Bagging's bootstrap samples have N positions too.
        """
        return batches_per_epoch(-(-len(self.splits.train) // self.batch_size), replicas)

    def val_dataloader(self) -> DataLoader:
        """In order. Without a validation split Lightning sees no hook and skips validation."""
        return self._loader("valid", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """In order. Without a test split Lightning sees no hook (`trainer.test` refuses)."""
        return self._loader("test", shuffle=False)
