"""Plan stage: the memory model of checkpoint segments for a feed-forward layer chain.

In: a chain of `ChainLayer` records (bytes each layer saves for backward, its forward cost;
estimated by `nndsl.plan.memory.chains`) and a segmentation — consecutive segments, each either
run plainly or under `torch.utils.checkpoint`. Out: its predicted peak, the bytes it stores and
its recompute cost (`evaluate`), and the baseline segmentations (plain, equal counts, Chen et
al.'s square root). `nndsl.plan.memory.segment_search` finds the cheapest segmentation under a
budget with this model. Pure Python.

The memory model (all sizes for the planned batch):

* Every saved tensor has one owner, so a plain run counts each storage once: a layer owns the
  input it saves, the private tensors it saves (masks, statistics, pre-activations) and the
  output it saves unless the next layer saves that same tensor as its input.
* A plain segment stores what its layers own until their backward has run.
* A checkpointed segment stores only its input (the boundary; none for the network's own input,
  which the caller holds anyway, nor when a plain layer before it already keeps that tensor as
  its saved output). During the backward pass it is recomputed, and then holds its
  internal saved tensors: what its layers own, less the boundary (the recomputation saves that
  same storage), plus its last layer's output when that layer saves it (recomputation makes a
  fresh copy the next layer's saved input does not share).
* The backward pass walks the segments last to first, freeing each one's tensors when done. So
  with stored(k) the bytes segment k stores and internal(k) those it holds while recomputed
  (0 for a plain one), the peak is  max over k of  stored(1) + … + stored(k) + internal(k),
  which includes the moment forward ends (k = last).
* The recompute cost of a segmentation is the forward cost of its checkpointed segments.

Layers that cannot be recomputed (`checkpointable = False`) always run plainly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nndsl.records import Record


class ChainLayer(Record):
    """What the planner knows of one layer of a chain (bytes and cost for the planned batch)."""

    name: str
    input_bytes: int  # the input tensor (0 for the network's input, held by the caller)
    output_bytes: int
    saves_input: bool
    saves_output: bool
    private_bytes: int  # other tensors saved for backward
    forward_cost: float  # FLOP-equivalents (nndsl.plan.memory.chains)
    checkpointable: bool = True
    backward_cost: float | None = None  # FLOP-equivalents; None: twice the forward cost


class Segment(Record):
    """Layers [start, stop) of the chain, run plainly or under a checkpoint."""

    start: int
    stop: int
    checkpointed: bool


class Evaluation(Record):
    """A segmentation under the memory model: peak bytes, bytes stored after forward, recompute."""

    peak_bytes: int
    stored_bytes: int
    recompute_cost: float


def owned_bytes(layers: Sequence[ChainLayer], index: int) -> int:
    """Bytes layer `index` saves and owns in a plain run (each storage counted once)."""
    layer = layers[index]
    next_saves_input = index + 1 < len(layers) and layers[index + 1].saves_input
    return (layer.input_bytes * layer.saves_input + layer.private_bytes
            + layer.output_bytes * (layer.saves_output and not next_saves_input))


def shares_boundary(layers: Sequence[ChainLayer], start: int) -> bool:
    """Whether a plain layer before `start` already keeps the tensor a checkpoint at `start` keeps.

    That is the case when layer start-1 saves its output and layer `start` does not save its
    input (so the output is counted with layer start-1): one storage, counted once.
    """
    return (0 < start < len(layers) and layers[start - 1].saves_output
            and not layers[start].saves_input)


def segment_bytes(layers: Sequence[ChainLayer], segment: Segment,
                  after_plain: bool = False) -> tuple[int, int]:
    """(stored, internal) bytes of one segment (see the module docstring); `after_plain`: the
    segment before it runs plainly (its kept output may be this segment's boundary)."""
    owned = sum(owned_bytes(layers, index) for index in range(segment.start, segment.stop))
    if not segment.checkpointed:
        return owned, 0
    first, last = layers[segment.start], layers[segment.stop - 1]
    internal = owned - first.input_bytes * first.saves_input
    if segment.stop < len(layers) and last.saves_output and layers[segment.stop].saves_input:
        internal += last.output_bytes
    stored = 0 if after_plain and shares_boundary(layers, segment.start) else first.input_bytes
    return stored, internal


def evaluate(layers: Sequence[ChainLayer], segments: Sequence[Segment]) -> Evaluation:
    """Peak, stored bytes and recompute cost of a segmentation covering the chain."""
    stored, peak, cost = 0, 0, 0.0
    after_plain = False
    for segment in segments:
        segment_stored, internal = segment_bytes(layers, segment, after_plain)
        stored += segment_stored
        peak = max(peak, stored + internal)
        if segment.checkpointed:
            cost += sum(layer.forward_cost for layer in layers[segment.start:segment.stop])
        after_plain = not segment.checkpointed
    return Evaluation(peak_bytes=peak, stored_bytes=stored, recompute_cost=cost)


def step_cost(layers: Sequence[ChainLayer]) -> float:
    """A plain training step's cost: forward plus backward (twice the forward where unknown)."""
    return sum(layer.forward_cost + (2 * layer.forward_cost if layer.backward_cost is None
                                     else layer.backward_cost)
               for layer in layers)


def plain_segments(layers: Sequence[ChainLayer]) -> tuple[Segment, ...]:
    """No checkpointing: the whole chain as one plain segment."""
    return (Segment(0, len(layers), False),) if layers else ()


def equal_segments(layers: Sequence[ChainLayer], count: int) -> tuple[Segment, ...]:
    """`count` segments of (nearly) equal layer counts: the baseline that ignores layer sizes.

    All but the last are checkpointed (recomputing the last one would save nothing: it is
    recomputed as soon as the backward pass starts). Layers that cannot be recomputed split
    their segment and run plainly.
    """
    count = max(1, min(count, len(layers)))
    edges = [round(index * len(layers) / count) for index in range(count + 1)]
    segments: list[Segment] = []
    for number, (start, stop) in enumerate(zip(edges, edges[1:])):
        checkpointed = number < count - 1
        run_start = start
        for index in range(start, stop + 1):
            if index == stop or (checkpointed and not layers[index].checkpointable):
                if run_start < index:
                    segments.append(Segment(run_start, index, checkpointed))
                if index < stop:
                    segments.append(Segment(index, index + 1, False))
                run_start = index + 1
    return tuple(segments)


def sqrt_segments(layers: Sequence[ChainLayer]) -> tuple[Segment, ...]:
    """Chen et al.'s baseline: ⌈√n⌉ equal-count segments of an n-layer chain."""
    return equal_segments(layers, math.ceil(math.sqrt(len(layers)))) if layers else ()


def merge_plain(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    """Neighbouring plain segments joined (the same run, fewer rows to show)."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and not segment.checkpointed and not merged[-1].checkpointed:
            merged[-1] = Segment(merged[-1].start, segment.stop, False)
        else:
            merged.append(segment)
    return tuple(merged)
