"""The Lightning data module over `DataArrays`: padding, seeded shuffling, Trainer use, DDP."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning
import numpy as np
import pytest
import torch
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from nndsl.backend.datamodule import ArrayDataModule, pad_collate
from nndsl.backend.training_loader import TrainingLoaderControl
from nndsl.data.registry import DataArrays, DataSourceError


def _sequence_arrays(count: int = 10) -> DataArrays:
    """Example k has k + 1 frames of value k + 1 and k % 3 + 1 labels equal to 1."""
    input_lengths = np.arange(1, count + 1)
    target_lengths = np.arange(count) % 3 + 1
    inputs = np.zeros((count, count, 2), dtype=np.float32)
    targets = np.zeros((count, 3), dtype=np.int64)
    for row in range(count):
        inputs[row, : input_lengths[row]] = row + 1
        targets[row, : target_lengths[row]] = 1
    return DataArrays(inputs, targets, input_lengths=input_lengths, target_lengths=target_lengths)


def test_collate_pads_to_the_longest_example_in_the_batch() -> None:
    examples = [
        {
            "inputs": torch.full((length, 2), float(length)),
            "targets": torch.ones(label_count, dtype=torch.long),
            "input_lengths": torch.tensor(length),
            "target_lengths": torch.tensor(label_count),
        }
        for length, label_count in ((2, 2), (5, 1))
    ]
    batch = pad_collate(examples)
    assert batch["inputs"].shape == (2, 5, 2) and batch["targets"].shape == (2, 2)
    assert batch["inputs"][0, 2:].abs().sum() == 0 and batch["inputs"][0, :2].eq(2).all()
    assert batch["targets"].tolist() == [[1, 1], [1, 0]]
    assert batch["input_lengths"].tolist() == [2, 5]


def test_loader_batches_carry_lengths_and_padding() -> None:
    module = ArrayDataModule(_sequence_arrays(), batch_size=3, valid_fraction=0.2, seed=1)
    seen = 0
    for batch in module.train_dataloader():
        assert set(batch) == {"inputs", "targets", "input_lengths", "target_lengths"}
        lengths = batch["input_lengths"]
        assert batch["inputs"].shape[1] == int(lengths.max())
        for row, length in enumerate(lengths.tolist()):
            # Every valid frame holds the example's number (length), padding holds zeros.
            assert batch["inputs"][row, :length].eq(float(length)).all()
            assert batch["inputs"][row, length:].abs().sum() == 0
            label_count = int(batch["target_lengths"][row])
            assert batch["targets"][row, :label_count].eq(1).all()
        seen += len(lengths)
    assert seen == 8 and len(module.splits.valid) == 2


def test_dense_batches_are_stacked_with_dtypes() -> None:
    arrays = DataArrays(np.ones((6, 4)), np.arange(6))
    module = ArrayDataModule(arrays, batch_size=4)
    batch = next(iter(module.train_dataloader()))
    assert set(batch) == {"inputs", "targets"}
    assert batch["inputs"].dtype == torch.get_default_dtype()
    assert batch["targets"].dtype == torch.int64
    # Without validation or test splits the hooks are Lightning's defaults, which it skips.
    for copy in (module, pickle.loads(pickle.dumps(module))):  # spawned processes unpickle it
        assert not is_overridden("val_dataloader", copy)
        assert not is_overridden("test_dataloader", copy)
        assert is_overridden("train_dataloader", copy)
    with_splits = pickle.loads(pickle.dumps(ArrayDataModule(arrays, 2, 0.2, 0.2)))
    assert is_overridden("val_dataloader", with_splits)
    assert len(next(iter(with_splits.val_dataloader()))["targets"]) == 1


def _epoch_orders(seed: int, epochs: int = 2) -> list[list[int]]:
    arrays = DataArrays(np.arange(20, dtype=np.float32)[:, None], np.arange(20))
    loader = ArrayDataModule(arrays, batch_size=5, seed=seed).train_dataloader()
    return [[int(t) for batch in loader for t in batch["targets"]] for _ in range(epochs)]


def test_training_shuffle_is_seeded_and_changes_between_epochs() -> None:
    first, again, other = _epoch_orders(7), _epoch_orders(7), _epoch_orders(8)
    assert first == again and first != other
    assert first[0] != first[1] and sorted(first[0]) == list(range(20))


def test_online_training_keeps_stream_order_and_stays_resumable() -> None:
    arrays = DataArrays(np.arange(20, dtype=np.float32)[:, None], np.arange(20))
    module = ArrayDataModule(arrays, batch_size=5, seed=7, shuffle=False)
    loader = module.train_dataloader()
    assert module.shuffle_training is False and isinstance(loader, StatefulDataLoader)
    orders = [[int(t) for batch in loader for t in batch["targets"]] for _ in range(2)]
    assert orders[0] == orders[1] == sorted(orders[0])


def test_the_training_loader_base_asks_for_the_order_the_module_names() -> None:
    """`train_dataloader` passes the module's `shuffle_training` on; it does not ask for a
    shuffled loader and leave the data module to override it."""

    class Recording(TrainingLoaderControl):
        def __init__(self, shuffle_training: bool) -> None:
            self.shuffle_training, self.asked = shuffle_training, []

        def _loader(self, split: str, shuffle: bool):
            self.asked.append((split, shuffle))
            return DataLoader(range(3), generator=torch.Generator())

    for shuffle_training in (True, False):
        module = Recording(shuffle_training)
        module.train_dataloader()
        assert module.asked == [("train", shuffle_training)]


def test_an_empty_split_is_reported_before_training() -> None:
    with pytest.raises(DataSourceError):
        ArrayDataModule(DataArrays(np.ones((5, 1)), np.zeros(5)), batch_size=2, test_fraction=0.05)


class _MeanModel(lightning.LightningModule):
    """Averages each sequence over its valid frames; enough to exercise the loaders."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def _loss(self, batch: dict) -> torch.Tensor:
        mask = torch.arange(batch["inputs"].shape[1])[None, :] < batch["input_lengths"][:, None]
        pooled = (batch["inputs"] * mask[..., None]).sum(1) / batch["input_lengths"][:, None]
        return self.layer(pooled).pow(2).mean()

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: dict, batch_index: int) -> None:
        self.log("valid/loss", self._loss(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _trainer(folder: Path) -> lightning.Trainer:
    return lightning.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=folder,
    )


def test_trainer_fits_validates_and_tests_with_the_module(tmp_path: Path) -> None:
    module = ArrayDataModule(_sequence_arrays(12), batch_size=4, valid_fraction=0.25,
                             test_fraction=0.25, seed=0)
    trainer = _trainer(tmp_path)
    model = _MeanModel()
    trainer.fit(model, datamodule=module)
    assert "valid/loss" in trainer.callback_metrics
    assert trainer.num_training_batches == 2
    (results,) = trainer.validate(model, datamodule=module, verbose=False)
    assert "valid/loss" in results


def test_trainer_runs_without_a_validation_split(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path)
    trainer.fit(_MeanModel(), datamodule=ArrayDataModule(_sequence_arrays(6), batch_size=4))
    assert trainer.num_val_batches == [] and "valid/loss" not in trainer.callback_metrics
    with pytest.raises(MisconfigurationException):
        trainer.test(_MeanModel(), datamodule=ArrayDataModule(_sequence_arrays(6), batch_size=4))


DDP_SCRIPT = """
import sys, numpy as np, torch, lightning
from nndsl.backend.datamodule import ArrayDataModule
from nndsl.data.registry import DataArrays

class Recorder(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []
    def training_step(self, batch, batch_index):
        self.seen += batch["targets"].tolist()
        return (self.weight * batch["inputs"].sum()).pow(2)
    def on_train_end(self):
        with open(f"{sys.argv[1]}/rank{self.global_rank}.txt", "w") as handle:
            handle.write(" ".join(map(str, self.seen)))
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

if __name__ == "__main__":
    lightning.seed_everything(3)
    arrays = DataArrays(np.arange(16, dtype=np.float32)[:, None], np.arange(16))
    module = ArrayDataModule(arrays, batch_size=2, seed=3)
    trainer = lightning.Trainer(max_epochs=1, accelerator="cpu", devices=2, strategy="ddp",
                                logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Recorder(), datamodule=module)
"""


@pytest.mark.slow
def test_ddp_gives_each_process_a_disjoint_seeded_share(tmp_path: Path) -> None:
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    environment = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    shares = []
    for _ in range(2):
        subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, cwd=tmp_path,
                       env=environment, capture_output=True, timeout=300)
        shares.append([(tmp_path / f"rank{rank}.txt").read_text().split() for rank in (0, 1)])
    first, second = shares
    assert len(first[0]) == len(first[1]) == 8
    assert sorted(map(int, first[0] + first[1])) == list(range(16))
    assert first == second  # the same seed gives the same distributed shuffle
