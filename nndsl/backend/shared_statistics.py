"""Backend stage: feature statistics fitted once over a training split that several processes
train on together (DDP), each process reading only its share of it.

In: an `ExampleStore`, the training split's rows and a batch size. Out: `FeatureStatistics`
equal, bit for bit, to one process's `fit_statistics(store_batches(store, rows, batch_size))`,
the same in every process.

One process folds the split's batches 0, 1, 2, ... into its running statistics in order. In a
process group of N, process r reads and summarises only batches r, r + N, r + 2N, ...
(`nndsl.data.standardize.summarize`: rows, mean, sum of squared deviations); the summaries are
exchanged (`all_gather_object`, a few rounds of batches at a time, so memory holds a bounded
number of them), and every process merges all of them in batch order with the very arithmetic
one process uses. Outside a process group of more than one, it is the one-process fit.

A data error while a process reads its batches (a damaged file) is sent with the summaries, so
every process raises the same `DataSourceError` instead of the others waiting for it forever.
"""

from __future__ import annotations

from typing import Any

import torch.distributed as distributed

from nndsl.data.registry import DataSourceError
from nndsl.data.standardize import (
    FeatureStatistics,
    RunningStatistics,
    fit_statistics,
    store_batches,
    store_rows,
    summarize,
)

ROUNDS_PER_EXCHANGE = 16
"""Batches each process summarises between two exchanges."""


def process_group_size() -> int:
    """Processes in the default process group; 1 outside one."""
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_world_size()
    return 1


def fit_shared_statistics(store: Any, rows: Any, batch_size: int) -> FeatureStatistics:
    """The statistics of the examples at `rows`, fitted together by the process group (see the
    module docstring). Every process of the group must call it, with the same arguments.

    Raises:
        DataSourceError: reading a batch failed, in this process or another one.
        ValueError: no rows, or feature shapes differ between batches.
    """
    replicas = process_group_size()
    if replicas == 1:
        return fit_statistics(store_batches(store, rows, batch_size))
    rank = distributed.get_rank()
    batches = -(-len(rows) // batch_size)
    running = RunningStatistics()
    per_exchange = replicas * ROUNDS_PER_EXCHANGE
    for first in range(0, batches, per_exchange):
        last = min(first + per_exchange, batches)
        mine: Any = []
        try:
            for index in range(first + rank, last, replicas):
                mine.append(summarize(store_rows(store, rows[index * batch_size:
                                                             (index + 1) * batch_size])))
        except DataSourceError as error:
            mine = (error.message, error.field, error.hint, error.code)
        gathered: list[Any] = [None] * replicas
        distributed.all_gather_object(gathered, mine)
        for reported in gathered:
            if isinstance(reported, tuple):  # a process could not read its batches
                raise DataSourceError(*reported)
        for index in range(first, last):
            owner, position = (index - first) % replicas, (index - first) // replicas
            running.merge(gathered[owner][position])
    return running.result()
