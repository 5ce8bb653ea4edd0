"""`standardize: true` on streamed data: a lazy `npy_dir` table and length-bucketed sequences get
statistics fitted in one pass over the training split, a batch at a time, equal to the in-memory
path's, and their batches are standardised as they are read, as the in-memory batches are."""

from __future__ import annotations

import numpy as np
import torch

from nndsl.api import compile_spec
from nndsl.backend.datamodule import ArrayDataModule
from nndsl.backend.streaming import StreamingDataModule
from nndsl.run.train import load_data

TABLE = """
nndsl: 1
name: streamed
seed: 4
data: {{source: npy_dir, path: data, lazy: {lazy}, standardize: true, batch_size: 16,
       valid_fraction: 0.2, test_fraction: 0.2}}
network:
  layers:
    - {{name: out, type: linear, units: 3}}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
"""
SEQUENCES = """
nndsl: 1
name: bucketed
seed: 2
data: {{source: synthetic_speech, examples: 24, standardize: true, {batching},
       valid_fraction: 0.25}}
network:
  layers:
    - {{name: rnn, type: lstm, hidden: 4}}
    - {{name: out, type: linear, units: 21}}
loss: {{type: ctc}}
optimizer: {{type: sgd, lr: 0.1}}
"""


def _module(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return load_data(compile_spec(path).raise_for_errors())


def test_a_lazy_table_is_standardised_like_the_same_table_in_memory(tmp_path):
    generator = np.random.default_rng(0)
    inputs = (generator.normal(size=(120, 5)) * [1e-2, 1, 10, 1e3, 1e5] + 7).astype(np.float32)
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "inputs.npy", inputs)
    np.save(tmp_path / "data" / "targets.npy", np.arange(120) % 3)
    streamed = _module(tmp_path, "lazy", TABLE.format(lazy="true"))
    whole = _module(tmp_path, "whole", TABLE.format(lazy="false"))
    assert isinstance(streamed, StreamingDataModule) and isinstance(whole, ArrayDataModule)
    train = inputs[streamed.splits.train.indices].astype(np.float64)
    for statistics in (streamed.feature_statistics, whole.feature_statistics):
        np.testing.assert_allclose(statistics.mean, train.mean(axis=0), rtol=1e-9)
        np.testing.assert_allclose(statistics.std, train.std(axis=0), rtol=1e-9)
    # The same batches, standardised alike (both loaders shuffle with the same seed).
    torch.manual_seed(0)
    lazy_batch = next(iter(streamed.train_dataloader()))["inputs"]
    torch.manual_seed(0)
    whole_batch = next(iter(whole.train_dataloader()))["inputs"]
    torch.testing.assert_close(lazy_batch, whole_batch)
    assert abs(float(lazy_batch.mean())) < 1.0 and float(lazy_batch.abs().max()) < 10


def test_bucketed_sequences_pool_the_valid_frames(tmp_path):
    bucketed = _module(tmp_path, "bucketed", SEQUENCES.format(batching="batch_frames: 400"))
    whole = _module(tmp_path, "whole", SEQUENCES.format(batching="batch_size: 4"))
    assert isinstance(bucketed, StreamingDataModule)
    assert bucketed.feature_statistics.count == whole.feature_statistics.count  # valid frames
    np.testing.assert_allclose(bucketed.feature_statistics.mean, whole.feature_statistics.mean,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bucketed.feature_statistics.std, whole.feature_statistics.std,
                               rtol=1e-9)
    batch = next(iter(bucketed.train_dataloader()))
    lengths = batch["input_lengths"]
    padding = torch.arange(batch["inputs"].shape[1])[None, :] >= lengths[:, None]
    assert (batch["inputs"][padding] == 0).all()  # padding stays zero after standardising
