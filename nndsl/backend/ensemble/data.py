"""Backend stage: bagging's training data — each member draws its own bootstrap sample.

In: a training set and the ensemble's size and seed. Out: `BootstrapSamples` and
`bootstrap_loader`, which `ArrayDataModule.use_bootstrap_samples` uses so that its training
loader yields member-major batches `{"inputs": [M, B, ...], "targets": [M, B, ...]}`:
position i of a batch holds, for every member, the i-th draw of that member's bootstrap sample
(reproducible from the seed), so all members train in the same step on their own samples.
The samples are fixed once from the seed; the loader that shuffles their positions is a
`StatefulDataLoader`, so a run resumed in mid-epoch continues with the interrupted epoch's order.
"""

from __future__ import annotations

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
        return {key: torch.stack([torch.as_tensor(example[key]) for example in examples])
                for key in examples[0]}


def collate_member_major(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Collates B `BootstrapSamples` items (fields [M, ...]) into fields [M, B, ...]."""
    # [M, B, ...]
    return {key: torch.stack([item[key] for item in batch]).transpose(0, 1) for key in batch[0]}


def bootstrap_loader(samples: BootstrapSamples, batch_size: int, seed: int,
                     num_workers: int) -> StatefulDataLoader:
    """The bagged training loader: positions shuffled by a generator seeded with `seed`, batches
    member-major, resumable in mid-epoch (a `StatefulDataLoader`)."""
    generator = torch.Generator().manual_seed(seed)
    return StatefulDataLoader(samples, batch_size=batch_size, shuffle=True, generator=generator,
                              collate_fn=collate_member_major, num_workers=num_workers)
