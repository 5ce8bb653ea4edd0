"""Backend stage: bagging's training data — each member draws its own bootstrap sample.

In: an `ArrayDataModule` and the ensemble's size and seed. Out: the same data module whose
training loader yields member-major batches `{"inputs": [M, B, ...], "targets": [M, B, ...]}`:
position i of a batch holds, for every member, the i-th draw of that member's bootstrap sample
(reproducible from the seed), so all members train in the same step on their own samples.
The samples are fixed once from the seed; the loader that shuffles their positions is a
`StatefulDataLoader`, so a run resumed in mid-epoch continues with the interrupted epoch's order.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset
from torchdata.stateful_dataloader import StatefulDataLoader


def bootstrap_indices(dataset_size: int, members: int, seed: int) -> torch.Tensor:
    """Draws one bootstrap sample (N draws with replacement from N examples) per member.

    A private generator keeps the draw independent of the global random state, so the same seed
    gives the same samples whatever ran before.

    Args:
        dataset_size: N, the number of training examples.
        members: M.
        seed: the seed of the draw.

    Returns:
        Example indices [M, N] (int64); row m is member m's bootstrap sample.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, dataset_size, (members, dataset_size), generator=generator)  # [M, N]


class BootstrapSamples(Dataset):
    """Position i yields the i-th draw of every member's bootstrap sample, field by field [M, ...].

    Args:
        dataset: map-style dataset whose items are dicts of tensors (or numbers).
        indices: bootstrap indices [M, N] from `bootstrap_indices`.
    """

    def __init__(self, dataset: Dataset, indices: torch.Tensor):
        self.dataset = dataset
        self.indices = indices  # [M, N]

    def __len__(self) -> int:
        return self.indices.shape[1]

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        examples = [self.dataset[int(index)] for index in self.indices[:, position]]
        return {key: torch.stack([torch.as_tensor(example[key]) for example in examples]) for key in examples[0]}


def collate_member_major(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Collates B `BootstrapSamples` items (fields [M, ...]) into fields [M, B, ...]."""
    return {key: torch.stack([item[key] for item in batch]).transpose(0, 1) for key in batch[0]}  # [M, B, ...]


def use_bootstrap_samples(datamodule: Any, members: int, seed: int) -> None:
    """Make `datamodule`'s training loader yield per-member bootstrap batches."""
    datamodule.setup()
    train_set = datamodule._datasets["train"]
    samples = BootstrapSamples(train_set, bootstrap_indices(len(train_set), members, seed))

    def train_dataloader() -> StatefulDataLoader:
        generator = torch.Generator().manual_seed(seed)
        return StatefulDataLoader(samples, batch_size=datamodule.batch_size, shuffle=True,
                                  generator=generator, collate_fn=collate_member_major,
                                  num_workers=datamodule.num_workers)

    datamodule.train_dataloader = train_dataloader
    datamodule.bootstrap_indices = samples.indices
