"""Benchmark: training-step time of a vectorised ensemble against a Python loop over its members.

Run: `python benchmarks/ensemble_speed.py [--members 8] [--batch 128] [--threads 2]`

M small networks are trained with sMCL's oracle loss (forward, per-member cross-entropy, backward,
SGD-with-momentum step) on one batch of digits-sized inputs (8x8 = 64 features, 10 classes). The
members are built from a spec exactly as `nndsl train` builds them (`EnsembleNetwork`: one graph
module per member, stacked when vectorised):

- an MLP 64 -> 128 -> 128 -> 10 on three paths: "loop" (`ensemble: {vectorise: false}`, one
  member after the other), "vmap" (the generic `torch.func` path) and "batched-matmul" (the
  Linear-chain fast path, what `nndsl train` runs for this spec);
- a small conv net (conv 3x3 1->8, conv 3x3 8->16, max-pool, linear 256 -> 10) on "loop", "vmap"
  and "grouped-conv" (the members' channels side by side in grouped convolutions, what
  `nndsl train` runs).

Paths are timed side by side in one process, interleaved round by round so that drift of a shared
machine hits all of them alike; each is warmed up first, and the median over rounds is printed
with its ratio to the loop. Goal on the 2-core CPU box: vectorised <= 0.5 x loop for the MLP.

The MLP step is bound by matrix products (about 140 MFLOP per step at M = 8), so the vectorised
path gains by running fewer, larger products rather than by removing Python overhead alone. With
2 threads, other processes on the same 2 cores make threads wait on each other and the ratios
swing; `--threads 1` gives the steadier comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from nndsl.api import compile_spec
from nndsl.backend.ensemble.losses import oracle_loss, per_member_cross_entropy
from nndsl.backend.ensemble.members import Ensemble
from nndsl.backend.ensemble.network import EnsembleNetwork
from nndsl.backend.graph_module import GraphModule
from nndsl.ir import INPUT

FEATURES, SIDE, CLASSES = 64, 8, 10
MLP_GOAL, CONV_GOAL = 0.45, 0.6  # step time of the fastest vectorised path / the loop's, M = 8

SPEC = """
nndsl: 1
name: ensemble-speed
seed: 1
data: {{source: digits, layout: {layout}, batch_size: 128}}
network:
  layers:
{layers}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.01, momentum: 0.9}}
ensemble: {{members: {members}, method: smcl}}
"""
MLP_LAYERS = """\
    - {name: h1, type: linear, units: 128, activation: relu}
    - {name: h2, type: linear, units: 128, activation: relu}
    - {name: out, type: linear, units: 10}"""
CONV_LAYERS = """\
    - {name: c1, type: conv2d, channels: 8, kernel: 3, padding: same, activation: relu}
    - {name: c2, type: conv2d, channels: 16, kernel: 3, padding: same, activation: relu}
    - {name: pool, type: maxpool, kernel: 2}
    - {name: flat, type: flatten}
    - {name: out, type: linear, units: 10}"""


def spec_ensembles(layers: str, layout: str, members: int) -> dict[str, nn.Module]:
    """The ensemble of a spec on each path: "loop" and the fast path as `nndsl train` builds
    them (`EnsembleNetwork`, with `ensemble.vectorise` false for the loop) and, for comparison,
    the same graph-module members on the generic vmap path."""
    text = SPEC.format(layout=layout, layers=layers, members=members)
    compiled = compile_spec("ensemble_speed.yaml", [], text=text).raise_for_errors()
    looped = compile_spec("ensemble_speed.yaml", ["ensemble.vectorise=false"],
                          text=text).raise_for_errors()
    graph, plan = compiled.graph, compiled.plan.ensemble

    def member(index: int) -> nn.Module:  # as EnsembleNetwork builds one (no shared trunk)
        torch.manual_seed(plan.seeds[index])
        return GraphModule(graph, layers=plan.member_layers, source=INPUT, tensor_only=True)

    return {"loop": EnsembleNetwork(looped.graph, looped.plan.ensemble),
            "vmap": Ensemble(member, members, batched_matmul=False),
            "fast": EnsembleNetwork(graph, plan)}


def training_step(ensemble: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> Callable:
    """Builds one closure doing a full sMCL training step on a fixed batch."""
    optimizer = torch.optim.SGD(ensemble.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = ensemble(inputs)  # [M, B, C]
        loss, _ = oracle_loss(per_member_cross_entropy(logits, targets), k=1)
        loss.backward()
        optimizer.step()
        if inputs.is_cuda:  # kernels run asynchronously: time their completion, not their launch
            torch.cuda.synchronize()

    return step


def time_side_by_side(
    steps: dict[str, Callable], warmup: int, rounds: int, steps_per_round: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per step of every closure, measured in interleaved rounds on `clock`."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = clock()
            for _ in range(steps_per_round):
                step()
            samples[name].append((clock() - start) / steps_per_round)
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, medians: dict[str, float], goal: float | None = None) -> None:
    """Prints each path's median step time and its ratio to the loop, then whether the fastest
    vectorised path meets `goal` (a ratio to the loop)."""
    print(title)
    for name, seconds in medians.items():
        ratio = seconds / medians["loop"]
        print(f"  {name:>15}: {seconds * 1e3:7.3f} ms/step   ratio {ratio:5.2f} x loop")
    if goal is not None:
        best = min((name for name in medians if name != "loop"), key=medians.__getitem__)
        ratio = medians[best] / medians["loop"]
        print(f"  goal: fastest vectorised path ({best}) <= {goal:.2f} x loop: ratio {ratio:.2f}: "
              f"{'met' if ratio <= goal else 'not met'}")


def rename_fast(ensembles: dict[str, nn.Module], fast_path: str,
                device: torch.device) -> dict[str, nn.Module]:
    """The ensembles keyed by the path each runs, checked to be the expected ones, on `device`."""
    renamed = {fast_path if name == "fast" else name: ensemble.to(device)
               for name, ensemble in ensembles.items()}
    paths = [(ensemble.members if isinstance(ensemble, EnsembleNetwork) else ensemble).path
             for ensemble in renamed.values()]
    assert paths == list(renamed), paths
    return renamed


def main() -> None:
    """Parses options, builds the ensembles and prints the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps-per-round", type=int, default=30)
    parser.add_argument("--skip-conv", action="store_true")
    parser.add_argument("--device", default="cpu", help="e.g. cuda (timings then synchronise)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: this process's CPU time (time.process_time), which leaves out "
                             "the time spent waiting for a core on a loaded machine; use it with "
                             "--threads 1 (with more threads it also counts their spin-waits)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, a few seconds: checks that the script still runs")
    options = parser.parse_args()
    if options.smoke:
        (options.members, options.batch, options.warmup, options.rounds,
         options.steps_per_round) = 2, 16, 1, 1, 2
    torch.set_num_threads(options.threads)
    device = torch.device(options.device)
    clock = time.process_time if options.clock == "cpu" else time.perf_counter
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, CLASSES, (options.batch,), generator=generator).to(device)  # [B]
    print(
        f"torch {torch.__version__} on {device}, {options.threads} threads, M={options.members}, "
        f"batch={options.batch}; median of {options.rounds} rounds "
        f"x {options.steps_per_round} steps, {options.clock} clock"
    )

    flat_inputs = torch.randn(options.batch, FEATURES, generator=generator).to(device)  # [B, 64]
    mlp = rename_fast(spec_ensembles(MLP_LAYERS, "flat", options.members), "batched-matmul",
                      device)
    medians = time_side_by_side(
        {name: training_step(ensemble, flat_inputs, targets) for name, ensemble in mlp.items()},
        options.warmup, options.rounds, options.steps_per_round, clock,
    )
    report("MLP 64-128-128-10 (forward + backward + SGD step):", medians, MLP_GOAL)

    if not options.skip_conv:
        images = torch.randn(options.batch, 1, SIDE, SIDE, generator=generator)  # [B, 1, 8, 8]
        images = images.to(device)
        conv = rename_fast(spec_ensembles(CONV_LAYERS, "image", options.members),
                           "grouped-conv", device)
        medians = time_side_by_side(
            {name: training_step(ensemble, images, targets) for name, ensemble in conv.items()},
            options.warmup, options.rounds, options.steps_per_round, clock,
        )
        report("conv 1-8-16 + linear (forward + backward + SGD step):", medians, CONV_GOAL)


if __name__ == "__main__":
    main()
