"""The optimiser-step count a per-step learning-rate schedule spans (`stepping_batches`) equals
Lightning's own estimate (`estimated_stepping_batches`) for batch limits, gradient accumulation,
step caps and both data modules (in-memory, bagged, streamed, length-bucketed), is taken without
building the training loader, and the batches per DDP process equal what Lightning's
`DistributedSampler` gives each process."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, DistributedSampler

from nndsl.backend.datamodule import ArrayDataModule
from nndsl.backend.optimizers import stepping_batches
from nndsl.backend.streaming import StreamingDataModule
from nndsl.data.lazy_store import ArrayStore
from nndsl.data.registry import DataArrays


class _Counted(Exception):
    """Raised once both counts are taken: the fit goes no further."""


class _Counting(LightningModule):
    """Takes nndsl's count and then Lightning's (which builds the loader) in
    `configure_optimizers`, where a scheduler asks for it."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.counts: tuple[int, int] | None = None

    def training_step(self, batch, batch_index):
        raise AssertionError("never reached")

    def configure_optimizers(self):
        ours = stepping_batches(self.trainer)
        assert self.trainer.train_dataloader is None  # counted without building the loader
        self.counts = (ours, int(self.trainer.estimated_stepping_batches))
        raise _Counted


def _array_module(examples: int, batch_size: int) -> ArrayDataModule:
    arrays = DataArrays(inputs=np.zeros((examples, 1), np.float32),
                        targets=np.zeros(examples, np.int64))
    return ArrayDataModule(arrays, batch_size, seed=1)


def _bucketed_module() -> StreamingDataModule:
    lengths = np.array([3, 5, 2, 7, 7, 1, 4, 6, 2, 3, 5, 1, 7])
    arrays = DataArrays(inputs=np.zeros((13, 7, 2), np.float32), targets=np.zeros(13, np.int64),
                        input_lengths=lengths)
    return StreamingDataModule(ArrayStore(arrays), 1, seed=0, batch_frames=14)


def _streaming_module(examples: int, batch_size: int) -> StreamingDataModule:
    arrays = DataArrays(inputs=np.zeros((examples, 1), np.float32),
                        targets=np.zeros(examples, np.int64))
    return StreamingDataModule(ArrayStore(arrays), batch_size, seed=0)


@pytest.mark.parametrize("datamodule", ["array", "bagging", "streaming", "bucketed",
                                        "bucketed-bagging"])
@pytest.mark.parametrize("options", [
    {"max_epochs": 3},
    {"max_epochs": 2, "limit_train_batches": 4},
    {"max_epochs": 2, "limit_train_batches": 0.5},
    {"max_epochs": 3, "accumulate_grad_batches": 3},
    {"max_epochs": 4, "max_steps": 7},
    {"fast_dev_run": 2},
])
def test_the_step_count_is_lightnings_without_building_the_loader(tmp_path, datamodule, options):
    data = {"array": lambda: _array_module(77, 8), "bagging": lambda: _array_module(77, 8),
            "streaming": lambda: _streaming_module(77, 8), "bucketed": _bucketed_module}
    module = data[datamodule.removesuffix("-bagging")]()
    if datamodule.endswith("bagging"):
        module.use_bootstrap_samples(members=2, seed=3)
    counting = _Counting()
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path, **options)
    with pytest.raises(_Counted):
        trainer.fit(counting, datamodule=module)
    ours, lightnings = counting.counts
    assert ours == lightnings > 0


@pytest.mark.parametrize("examples,batch_size,replicas", [(77, 8, 2), (77, 8, 3), (64, 8, 4),
                                                          (5, 8, 2), (100, 7, 6)])
def test_batches_per_process_match_lightnings_distributed_sampler(examples, batch_size, replicas):
    """What each DDP process's loader holds, once Lightning gave it a `DistributedSampler`."""
    module = _array_module(examples, batch_size)
    module.setup()
    dataset = module._datasets["train"]
    sampler = DistributedSampler(dataset, num_replicas=replicas, rank=0, shuffle=True)
    expected = len(DataLoader(dataset, batch_size=batch_size, sampler=sampler))
    assert module.train_batches_per_epoch(replicas) == expected
    assert _streaming_module(examples, batch_size).train_batches_per_epoch(replicas) == expected
