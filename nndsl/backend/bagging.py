"""Backend stage: bootstrap aggregation (bagging) data for ensemble members trained in one step.

In: a map-style training dataset of (inputs, target) examples, the member count M and a seed.
Out: per-member bootstrap indices [M, N] reproducible from the seed, and `BaggedDataset` +
`collate_bagged`, which make a `DataLoader` yield batches (inputs [M, B, ...], targets [M, B]) in
which member m's row holds examples from member m's own bootstrap sample, so that one training step
runs every member on its own data (`Ensemble(..., per_member=True)` in forward).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate


def bootstrap_indices(dataset_size: int, members: int, seed: int) -> Tensor:
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


class BaggedDataset(Dataset):
    """Position i yields the i-th example of every member's bootstrap sample, stacked.

    With `collate_bagged` a `DataLoader` (shuffling positions is fine: every member keeps drawing
    from its own sample) yields batches with a leading member dimension.

    Args:
        dataset: map-style dataset whose items are tuples of tensors (or numbers), e.g.
            (inputs, target).
        indices: bootstrap indices [M, N] from `bootstrap_indices`.
    """

    def __init__(self, dataset: Dataset, indices: Tensor) -> None:
        self.dataset = dataset
        self.indices = indices  # [M, N]

    def __len__(self) -> int:
        """N: one position per draw of a bootstrap sample."""
        return self.indices.shape[1]

    def __getitem__(self, position: int) -> tuple[Tensor, ...]:
        """Returns every member's example at this position, each field stacked: ([M, ...], ...)."""
        examples = [self.dataset[int(index)] for index in self.indices[:, position]]
        # default_collate stacks field by field, turning M examples into fields [M, ...].
        return tuple(default_collate(examples))


def collate_bagged(batch: Sequence[tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    """Collates `BaggedDataset` items into member-major batches.

    Args:
        batch: B items, each a tuple of fields [M, ...].

    Returns:
        The fields as [M, B, ...] (e.g. inputs [M, B, ...] and targets [M, B]).
    """
    fields: list[Any] = default_collate(list(batch))  # each [B, M, ...]
    return tuple(field.transpose(0, 1) for field in fields)  # each [M, B, ...]


def bagged_tensors(
    inputs: Tensor, targets: Tensor, indices: Tensor, positions: Tensor
) -> tuple[Tensor, Tensor]:
    """Gathers one bagged batch directly from in-memory tensors (no DataLoader workers needed).

    Args:
        inputs: all training inputs [N, ...].
        targets: all training targets [N].
        indices: bootstrap indices [M, N].
        positions: the batch's positions into the bootstrap samples [B].

    Returns:
        Inputs [M, B, ...] and targets [M, B].
    """
    member_indices = indices[:, positions]  # [M, B]
    return inputs[member_indices], targets[member_indices]  # [M, B, ...], [M, B]
