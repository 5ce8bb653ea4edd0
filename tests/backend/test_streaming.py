"""The streaming data module: lazy Kaldi batches equal the in-memory ones, length-bucketed
batches keep the frame budget and their seeded order, a mid-epoch resume replays the rest of the
epoch, and a DDP-style split of the batches is disjoint and covering."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _replace_dunder_methods
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from nndsl.backend.datamodule import ArrayDataModule
from nndsl.backend.streaming import StreamingDataModule
from nndsl.data.bucketing import bucket_batches, epoch_batches
from nndsl.data.lazy_store import ArrayStore
from nndsl.data.registry import DATA_SOURCES, DataSourceError


def write_kaldi(folder: Path, count: int = 23, seed: int = 0, classes: bool = False) -> None:
    """feats.ark/scp with `count` utterances of 3..29 frames, and a text or utt2label file."""
    generator = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"utt{index:03d}" for index in range(count)]
    with kaldiio.WriteHelper(f"ark,scp:{folder}/feats.ark,{folder}/feats.scp") as writer:
        for utterance in ids:
            writer(utterance, generator.normal(size=(int(generator.integers(3, 30)), 4))
                   .astype(np.float32))
    if classes:
        (folder / "utt2spk").write_text("".join(f"{u} s{i % 3}\n" for i, u in enumerate(ids)))
    else:
        (folder / "text").write_text("".join(f"{u} {'ab'[i % 2]}{'ba'[i % 2]}\n"
                                             for i, u in enumerate(ids)))


def kaldi(folder: Path, lazy: bool, classes: bool = False):
    source = DATA_SOURCES.get("kaldi")
    keys = {"feats": "data/feats.scp", "lazy": lazy}
    keys.update({"utt2label": "data/utt2spk"} if classes else {"text": "data/text"})
    return source, source.Params.model_validate(keys)


def batches(loader) -> list[dict]:
    return [dict(batch) for batch in loader]


def assert_same(first: list[dict], second: list[dict]) -> None:
    assert len(first) == len(second)
    for left, right in zip(first, second):
        assert left.keys() == right.keys()
        for key in left:
            assert left[key].dtype == right[key].dtype
            torch.testing.assert_close(left[key], right[key], rtol=0, atol=0)


@pytest.mark.parametrize("classes", [False, True])
def test_lazy_kaldi_gives_the_in_memory_batches(tmp_path: Path, classes: bool) -> None:
    write_kaldi(tmp_path / "data", classes=classes)
    source, eager = kaldi(tmp_path, lazy=False, classes=classes)
    _, lazy = kaldi(tmp_path, lazy=True, classes=classes)
    assert source.open(eager, tmp_path, 0) is None
    store = source.open(lazy, tmp_path, 0)
    assert store.input_lengths.tolist() == source.load(eager, tmp_path, 0).input_lengths.tolist()
    memory = ArrayDataModule(source.load(eager, tmp_path, 0), 4, 0.2, 0.1, seed=3)
    streaming = StreamingDataModule(store, 4, 0.2, 0.1, seed=3)
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert_same(batches(getattr(memory, name)()), batches(getattr(streaming, name)()))
    assert len(streaming.splits.train) == len(memory.splits.train)


def test_lazy_kaldi_reads_lengths_from_utt2num_frames(tmp_path: Path) -> None:
    write_kaldi(tmp_path / "data")
    source, params = kaldi(tmp_path, lazy=True)
    lengths = source.open(params, tmp_path, 0).input_lengths
    (tmp_path / "data" / "utt2num_frames").write_text(
        "".join(f"utt{index:03d} {int(frames)}\n" for index, frames in enumerate(lengths)))
    signature = source.signature(params, tmp_path)
    assert signature.longest_example == int(lengths.max())
    assert source.open(params, tmp_path, 0).input_lengths.tolist() == lengths.tolist()
    # A stale count is found when the utterance is read.
    (tmp_path / "data" / "utt2num_frames").write_text(
        "".join(f"utt{index:03d} {int(frames) + (index == 0)}\n"
                for index, frames in enumerate(lengths)))
    with pytest.raises(DataSourceError) as caught:
        source.open(params, tmp_path, 0)
    assert caught.value.code == "E496" and "utt000" in caught.value.message


def test_bucketed_batches_keep_the_budget_and_the_seeded_order() -> None:
    lengths = np.random.default_rng(1).integers(1, 50, size=200)
    planned = bucket_batches(lengths, 120)
    assert sorted(np.concatenate(planned).tolist()) == list(range(200))
    for batch in planned:
        assert len(batch) * lengths[batch].max() <= 120
    assert len(planned) < 200 / 2  # short examples share batches
    first = [batch.tolist() for batch in epoch_batches(planned, seed=4, epoch=0)]
    assert first == [batch.tolist() for batch in epoch_batches(planned, seed=4, epoch=0)]
    assert first != [batch.tolist() for batch in epoch_batches(planned, seed=4, epoch=1)]
    assert first != [batch.tolist() for batch in epoch_batches(planned, seed=5, epoch=0)]
    with pytest.raises(DataSourceError) as caught:
        bucket_batches(lengths, 40)
    assert caught.value.code == "E492" and "at least 49" in caught.value.hint


def test_shards_are_disjoint_and_cover_the_epoch() -> None:
    planned = bucket_batches(np.arange(1, 61), 100)
    for replicas in (2, 3, 4):
        shares = [epoch_batches(planned, 7, 2, rank, replicas) for rank in range(replicas)]
        assert len({len(share) for share in shares}) == 1  # equal steps: DDP stays in step
        drawn = [tuple(batch.tolist()) for share in shares for batch in share]
        distinct = set(drawn)
        assert distinct == {tuple(batch.tolist()) for batch in planned}  # covering
        # Disjoint, but for the padding that evens the shares (at most replicas - 1 repeats).
        assert len(drawn) - len(distinct) == (-len(planned)) % replicas


def test_bucketed_loader_under_lightnings_distributed_sampler(tmp_path: Path) -> None:
    write_kaldi(tmp_path / "data", count=40)
    source, params = kaldi(tmp_path, lazy=True)
    module = StreamingDataModule(source.open(params, tmp_path, 0), 1, 0.0, 0.0, seed=2,
                                 batch_frames=60)
    seen = []
    for rank in range(2):
        # Lightning calls the hook so, keeping the arguments it re-creates the loader with.
        with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
            loader = module.train_dataloader()
        # What Lightning does under DDP: re-create the batch sampler around its own sampler.
        sampler = DistributedSampler(loader.dataset, num_replicas=2, rank=rank, shuffle=False)
        sharded = _update_dataloader(loader, sampler, mode=RunningStage.TRAINING)
        sharded.batch_sampler.sampler.set_epoch(1)
        assert len(sharded) == -(-len(module.batches["train"]) // 2)
        for batch in sharded:
            assert batch["inputs"].shape[0] * batch["inputs"].shape[1] <= 60
            seen.append(tuple(batch["input_lengths"].tolist()))
    assert len(seen) >= len(module.batches["train"])


def test_mid_epoch_resume_of_a_lazy_bucketed_loader(tmp_path: Path) -> None:
    write_kaldi(tmp_path / "data", count=40)
    source, params = kaldi(tmp_path, lazy=True)
    module = StreamingDataModule(source.open(params, tmp_path, 0), 1, 0.0, 0.0, seed=2,
                                 batch_frames=60)
    loader = module.train_dataloader()
    loader.batch_sampler.sampler.set_epoch(3)
    whole = batches(loader)
    iterator = iter(loader)
    for _ in range(4):
        next(iterator)
    state = loader.state_dict()
    resumed = module.train_dataloader()
    resumed.batch_sampler.sampler.set_epoch(3)
    resumed.load_state_dict(state)
    assert_same(batches(resumed), whole[4:])


def test_in_memory_data_can_be_bucketed_too() -> None:
    from nndsl.data.registry import DataArrays

    lengths = np.array([3, 5, 2, 7, 7, 1])
    inputs = np.zeros((6, 7, 2), dtype=np.float32)
    store = ArrayStore(DataArrays(inputs=inputs, targets=np.arange(6), input_lengths=lengths))
    module = StreamingDataModule(store, 1, 0.0, 0.0, seed=0, batch_frames=14)
    sizes = sorted(batch["inputs"].shape[0] * batch["inputs"].shape[1]
                   for batch in module.train_dataloader())
    assert max(sizes) <= 14 and module.train_batches_per_epoch() == len(sizes)


def test_both_data_modules_honour_bagging_and_a_resumed_shuffle_alike(tmp_path: Path) -> None:
    """The run stage asks any data module for bagging and for a resumed shuffling state
    (`nndsl.backend.training_loader`); a streamed source must answer as an in-memory one."""
    write_kaldi(tmp_path / "data", classes=True)
    source, eager = kaldi(tmp_path, lazy=False, classes=True)
    _, lazy = kaldi(tmp_path, lazy=True, classes=True)

    def modules():
        return (ArrayDataModule(source.load(eager, tmp_path, 0), 4, 0.2, 0.0, seed=3),
                StreamingDataModule(source.open(lazy, tmp_path, 0), 4, 0.2, 0.0, seed=3))

    # A resumed shuffle: the next loader starts from the saved state, later ones from the seed.
    fresh = batches(modules()[0].train_dataloader())
    generator = torch.Generator().manual_seed(3)
    torch.randperm(5, generator=generator)  # any state other than the seed's
    for module in modules():
        module.resume_shuffle(generator.get_state())
        resumed = batches(module.train_dataloader())
        assert [batch["targets"].tolist() for batch in resumed] != \
            [batch["targets"].tolist() for batch in fresh]
        assert_same(batches(module.train_dataloader()), fresh)
    memory, streaming = modules()
    memory.resume_shuffle(generator.get_state())
    streaming.resume_shuffle(generator.get_state())
    assert_same(batches(memory.train_dataloader()), batches(streaming.train_dataloader()))
    # Bagging: each member's own bootstrap sample of the training split, the same in both, and
    # a training loader over them (member-major batches: tests/backend/test_bagging.py).
    for module in (memory, streaming):
        module.use_bootstrap_samples(members=3, seed=5)
    assert memory.bootstrap_indices is not None and memory.bootstrap_indices.shape[0] == 3
    assert torch.equal(memory.bootstrap_indices, streaming.bootstrap_indices)
    assert len(memory.train_dataloader()) == len(streaming.train_dataloader())
