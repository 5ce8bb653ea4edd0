"""Data stage: length-bucketed batches under a frame budget, their seeded order per epoch, and the
share of each process under DDP.

In: every training example's input length (frames), the spec's `batch_frames` budget, a seed, the
epoch, and the process's rank among `replicas`. Out: lists of example positions, one per batch.

Batches are made once, as ESPnet's length-sorted batching does: the examples sorted by length
(ties by position, so the result is the same on every machine) are cut into runs whose padded
size, longest length × examples, stays within `batch_frames`. Similar lengths share a batch, so
little padding is computed, and a batch of short utterances holds many of them. Each epoch then
draws the order of the batches from (seed, epoch) alone: a run resumed in mid-epoch replays the
same order and skips what it already trained on. Under DDP the epoch's batches are dealt out in
turn (rank r takes batches r, r + replicas, ...); when they do not divide evenly the first batches
are dealt again, so every process runs the same number of steps (DDP's collectives need that),
as torch's `DistributedSampler` pads its shares. numpy is imported inside functions.
"""

from __future__ import annotations

from typing import Any

from nndsl.data.registry import DataSourceError

#: The code for an example longer than the frame budget (it cannot fit any batch).
TOO_LONG = "E492"


def bucket_batches(lengths: Any, batch_frames: int, example_ids: Any = None) -> list[Any]:
    """Positions (0..len(lengths)-1) grouped into batches of similar length.

    Args:
        lengths: frames per example.
        batch_frames: most padded frames a batch may hold (longest length × batch size).
        example_ids: names for the error message, or None.

    Returns:
        int64 arrays of positions, shortest examples first; every position exactly once.

    Raises:
        DataSourceError (E492): an example alone is longer than `batch_frames`.
    """
    import numpy as np

    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and int(lengths.max()) > batch_frames:
        position = int(lengths.argmax())
        name = repr(example_ids[position]) if example_ids is not None else f"at row {position}"
        raise DataSourceError(f"example {name} has {int(lengths[position])} frames, more than "
                              f"batch_frames {batch_frames}", "batch_frames",
                              f"raise batch_frames to at least {int(lengths.max())}, or drop "
                              "or cut the longest examples", code=TOO_LONG)
    order = np.argsort(lengths, kind="stable")
    batches: list[Any] = []
    start = 0
    longest = 0
    for end, position in enumerate(order):
        longest = max(longest, int(lengths[position]))  # sorted: the newest is the longest
        if (end - start + 1) * longest > batch_frames:
            batches.append(order[start:end])
            start, longest = end, int(lengths[position])
    if start < len(order):
        batches.append(order[start:])
    return batches


def epoch_batches(batches: list[Any], seed: int, epoch: int, rank: int = 0,
                  replicas: int = 1) -> list[Any]:
    """This process's batches for `epoch`, in order: the same for the same arguments.

    Args:
        batches: from `bucket_batches`.
        seed: the data seed.
        epoch: the epoch number (Lightning's, from 0).
        rank: this process's rank.
        replicas: processes sharing the epoch (1 without DDP).
    """
    import numpy as np

    if not batches:
        return []
    order = np.random.default_rng([seed, 2, epoch]).permutation(len(batches))
    per_process = -(-len(order) // replicas)
    padded = np.resize(order, per_process * replicas)  # np.resize repeats from the start
    return [batches[int(position)] for position in padded[rank::replicas]]


def batches_per_epoch(batch_count: int, replicas: int = 1) -> int:
    """Steps each process runs per epoch for `batch_count` batches (see `epoch_batches`)."""
    return -(-batch_count // replicas) if batch_count else 0
