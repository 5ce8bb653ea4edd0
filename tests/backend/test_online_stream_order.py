"""A lazily read store's training loader keeps stream order for online training, one example per
batch, and resumes in mid-stream from its saved state; adapt phases read a store's split too."""

from __future__ import annotations

import numpy as np
import torch

from nndsl.backend.adaptation import AdaptationData
from nndsl.backend.datamodule import ArrayDataModule
from nndsl.backend.streaming import StreamingDataModule
from nndsl.data.lazy_store import ArrayStore
from nndsl.data.registry import DataArrays


def _arrays(count: int = 40) -> DataArrays:
    generator = np.random.default_rng(3)
    return DataArrays(inputs=generator.normal(size=(count, 5)).astype(np.float32),
                      targets=np.arange(count, dtype=np.float32).reshape(-1, 1))


def _targets(loader) -> list[float]:
    return [float(batch["targets"].reshape(-1)[0]) for batch in loader]


def test_online_store_loader_is_the_in_memory_stream_in_order() -> None:
    arrays = _arrays()
    lazy = StreamingDataModule(ArrayStore(arrays), 1, 0.2, 0.0, seed=4, shuffle=False)
    whole = ArrayDataModule(arrays, 1, 0.2, 0.0, seed=4, shuffle=False)
    order = [float(row) for row in lazy.splits.train.indices]
    assert _targets(lazy.train_dataloader()) == order  # the split's rows, unshuffled
    assert _targets(whole.train_dataloader()) == order
    assert all(batch["inputs"].shape[0] == 1 for batch in lazy.train_dataloader())
    assert _targets(lazy.train_dataloader()) == _targets(lazy.train_dataloader())  # every epoch
    shuffled = StreamingDataModule(ArrayStore(arrays), 1, 0.2, 0.0, seed=4)
    assert _targets(shuffled.train_dataloader()) != order  # batch training still shuffles


def test_online_store_loader_resumes_at_the_next_example() -> None:
    lazy = StreamingDataModule(ArrayStore(_arrays()), 1, 0.2, 0.0, seed=4, shuffle=False)
    loader = lazy.train_dataloader()
    iterator = iter(loader)
    seen = [float(next(iterator)["targets"][0, 0]) for _ in range(7)]
    state = loader.state_dict()
    resumed = lazy.train_dataloader()
    resumed.load_state_dict(state)
    assert seen + _targets(resumed) == _targets(lazy.train_dataloader())


def test_adapt_phase_reads_a_store_split_in_order() -> None:
    arrays = _arrays()
    lazy = StreamingDataModule(ArrayStore(arrays), 1, 0.2, 0.0, seed=4, standardize=True)
    whole = ArrayDataModule(arrays, 1, 0.2, 0.0, seed=4, standardize=True)
    lazy_batches = list(AdaptationData(lazy, "valid").train_dataloader())
    whole_batches = list(AdaptationData(whole, "valid").train_dataloader())
    assert len(lazy_batches) == len(whole_batches) == 8
    for got, expected in zip(lazy_batches, whole_batches):
        assert torch.equal(got["targets"], expected["targets"])
        torch.testing.assert_close(got["inputs"], expected["inputs"])  # both standardised
