"""Tests for bagging: reproducible bootstrap samples and member-major batches for one step."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nndsl.backend.ensemble.data import BootstrapSamples, bootstrap_indices, collate_member_major
from nndsl.backend.ensemble.losses import independent_loss, per_member_cross_entropy
from nndsl.backend.ensemble.members import Ensemble


pytestmark = pytest.mark.usefixtures("one_thread")


def test_bootstrap_indices_are_reproducible_from_the_seed_alone() -> None:
    first = bootstrap_indices(dataset_size=500, members=4, seed=11)
    torch.manual_seed(12345)  # the global random state must not matter
    torch.rand(7)
    again = bootstrap_indices(dataset_size=500, members=4, seed=11)
    assert first.shape == (4, 500) and first.dtype == torch.long
    assert torch.equal(first, again)
    assert not torch.equal(first, bootstrap_indices(dataset_size=500, members=4, seed=12))


def test_bootstrap_samples_differ_across_members_and_draw_with_replacement() -> None:
    indices = bootstrap_indices(dataset_size=2000, members=5, seed=0)
    assert int(indices.min()) >= 0 and int(indices.max()) < 2000
    for member in range(5):
        for other in range(member + 1, 5):
            assert not torch.equal(indices[member], indices[other])
        # A bootstrap sample holds about 1 - 1/e = 63.2% of the distinct examples.
        distinct = indices[member].unique().numel() / 2000
        assert 0.60 < distinct < 0.66


class Examples(Dataset):
    """Examples as the data modules give them: {"inputs": [3], "targets": []}."""

    def __init__(self, size: int) -> None:
        self.inputs = torch.arange(size * 3, dtype=torch.float32).view(size, 3)  # i starts at 3i
        self.targets = torch.arange(size) % 4

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"inputs": self.inputs[index], "targets": self.targets[index]}


def make_dataset(size: int = 40) -> Examples:
    return Examples(size)


def bagged_batch(dataset: Examples, indices: torch.Tensor, positions: torch.Tensor):
    """One member-major batch (inputs [M, B, 3], targets [M, B]) at these sample positions."""
    batch = collate_member_major([BootstrapSamples(dataset, indices)[int(position)]
                                  for position in positions])
    return batch["inputs"], batch["targets"]


def test_loader_yields_member_major_batches_of_each_members_own_sample() -> None:
    dataset = make_dataset()
    indices = bootstrap_indices(len(dataset), members=3, seed=5)
    loader = DataLoader(
        BootstrapSamples(dataset, indices), batch_size=8, shuffle=False,
        collate_fn=collate_member_major,
    )
    seen_inputs, seen_targets = [], []
    for batch in loader:
        inputs, targets = batch["inputs"], batch["targets"]
        assert inputs.shape[0] == 3 and inputs.shape[2] == 3 and targets.shape == inputs.shape[:2]
        seen_inputs.append(inputs)
        seen_targets.append(targets)
    all_inputs = torch.cat(seen_inputs, dim=1)  # [M, N, 3]
    all_targets = torch.cat(seen_targets, dim=1)  # [M, N]
    assert torch.equal(all_inputs, dataset.inputs[indices])
    assert torch.equal(all_targets, dataset.targets[indices])


def test_shuffled_loader_keeps_every_member_on_its_own_sample() -> None:
    dataset = make_dataset()
    indices = bootstrap_indices(len(dataset), members=2, seed=1)
    loader = DataLoader(
        BootstrapSamples(dataset, indices), batch_size=16, shuffle=True,
        collate_fn=collate_member_major, generator=torch.Generator().manual_seed(0),
    )
    for member in range(2):
        seen = torch.cat([batch["inputs"][member, :, 0] for batch in loader]) / 3  # example ids
        assert sorted(seen.long().tolist()) == sorted(indices[member].tolist())


@pytest.mark.parametrize("vectorise", [True, False])
def test_one_step_trains_each_member_on_its_own_bootstrap_batch(vectorise: bool) -> None:
    def member(index: int) -> nn.Module:
        torch.manual_seed(index)
        return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4))

    dataset = make_dataset()
    indices = bootstrap_indices(len(dataset), members=3, seed=3)
    inputs, targets = bagged_batch(dataset, indices, torch.arange(10))  # [3, 10, ...]
    inputs = inputs / 100  # keep the activations in a sensible range
    ensemble = Ensemble(member, 3, vectorise=vectorise)
    logits = ensemble(inputs, per_member=True)  # [M, B, C]
    independent_loss(per_member_cross_entropy(logits, targets)).backward()
    for index in range(3):
        alone = member(index)
        nn.functional.cross_entropy(alone(inputs[index]), targets[index]).backward()
        gradients = ensemble.parameters_by_member_name()
        for name, parameter in alone.named_parameters():
            held = gradients[name]
            gradient = held[0].grad[index] if len(held) == 1 else held[index].grad
            torch.testing.assert_close(gradient, parameter.grad, rtol=0, atol=1e-6)
