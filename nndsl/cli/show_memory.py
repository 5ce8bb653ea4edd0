"""Command-line layer: the memory plan of `nndsl show` as terminal tables.

In: a compiled `Plan` with a memory plan. Out: rich renderables — per recurrent layer its
recompute policy beside plain backpropagation through time, per feed-forward chain its
checkpoint segments beside plain backprop; runs of alike layers or chains are folded into one
row, as the network table folds repeated blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nndsl.cli.render import literal_row
from nndsl.cli.show import MIN_REPEATS
from nndsl.plan import Plan
from nndsl.plan.plan import ChainMemoryPlan
from nndsl.records import replace


def memory_table(plan: Plan, caption: str | None = None) -> RenderableType:
    """The memory plan: per recurrent layer the recompute policy next to plain backpropagation
    through time (`caption` under that table); per feed-forward chain its checkpoint segments
    next to plain backprop."""
    memory = plan.memory
    assert memory is not None
    title = (f"memory: budget {memory.budget_bytes / 2**20:.2f} MiB, policy {memory.policy} "
             f"({memory.note})")
    if plan.ensemble is not None:  # planned for one network; a step holds every member's
        title += (f"; per member: each of the {plan.ensemble.members} members is planned to "
                  "this budget, and a training step keeps all of theirs")
    parts: list[RenderableType] = []
    if memory.recurrent:
        table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
        for column in ("layer", "T", "units", "α", "forward steps", "plain", "peak MiB",
                       "plain MiB"):
            table.add_column(column, justify="left" if column == "layer" else "right")
        for run in _runs(memory.recurrent, lambda layer: replace(layer, layer="")):
            layer = run[0]
            names = tuple(item.layer for item in run)
            name = layer.layer if len(run) < MIN_REPEATS else _layer_span(names)
            literal_row(table, name + (" (×2 dir)" if layer.directions == 2 else ""),
                        str(layer.sequence_length),
                          str(layer.memory_units), str(layer.alpha),
                          f"{layer.predicted_forward_steps:,}",
                          f"{layer.plain_forward_steps:,}",
                          f"{layer.predicted_peak_bytes / 2**20:.2f}",
                          f"{layer.plain_peak_bytes / 2**20:.2f}")
        parts.append(table)
    if memory.chains:
        parts.append(chain_table(memory.chains, title if not memory.recurrent else None))
    return Group(*parts)


def chain_table(chains: tuple[ChainMemoryPlan, ...], title: str | None) -> Table:
    """Checkpoint segments per chain: what each keeps from forward to backward, what it holds
    while recomputed and the recomputation's cost; a closing row per chain with its peak."""
    table = Table(title=title, title_justify="left", caption="checkpointed segments keep only "
                  "their input and run again during backward; peak vs plain backprop; step time "
                  "predicted from FLOP-equivalents",
                  caption_justify="left")
    for column in ("chain / segment", "run", "kept MiB", "recomputed MiB", "recompute MFLOP-eq"):
        table.add_column(column,
                         justify="left" if column in ("chain / segment", "run") else "right")
    for run in _runs(chains, _unnamed_chain):
        chain = run[0]
        for segment in chain.segments:
            literal_row(table, _layer_span(segment.layers),
                        "checkpoint" if segment.checkpointed else "plain",
                          f"{segment.stored_bytes / 2**20:.2f}",
                          f"{segment.recompute_bytes / 2**20:.2f}",
                          f"{segment.recompute_flops / 1e6:.1f}")
        label = f"chain {_layer_span(chain.layers)}" if len(run) < MIN_REPEATS else \
            (f"{len(run)} alike chains, from {_layer_span(chain.layers)} "
             f"to {_layer_span(run[-1].layers)}, each")
        literal_row(table, Text(label, style="bold"), chain.policy,
                      f"peak {chain.predicted_peak_bytes / 2**20:.2f}",
                      f"plain {chain.plain_peak_bytes / 2**20:.2f}",
                      f"time ×{chain.predicted_time_ratio:.2f}", end_section=True)
    return table


def _unnamed_chain(chain: ChainMemoryPlan) -> ChainMemoryPlan:
    """A chain's plan without its layer names: equal for chains of equal shapes and plans."""
    return replace(chain, layers=(), segments=tuple(replace(segment, layers=(len(segment.layers),))
                                                    for segment in chain.segments))


def _runs(items: Sequence[Any], key: Callable[[Any], Any]) -> list[list[Any]]:
    """Consecutive items of equal `key`, shown as one row when MIN_REPEATS or more (hundreds of
    equal recurrent layers or chains in a generated network)."""
    runs: list[list[Any]] = []
    previous: Any = None
    for item in items:
        current = key(item)
        if runs and current == previous:
            runs[-1].append(item)
        else:
            runs.append([item])
        previous = current
    shown: list[list[Any]] = []
    for run in runs:
        shown.extend([run] if len(run) >= MIN_REPEATS else [[item] for item in run])
    return shown


def _layer_span(layers: tuple[str, ...]) -> str:
    """A segment's layers: all of them when few, else first … last."""
    return ", ".join(layers) if len(layers) <= 3 else f"{layers[0]} … {layers[-1]} ({len(layers)})"
