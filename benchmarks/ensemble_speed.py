"""Benchmark: training-step time of a vectorised ensemble against a Python loop over its members.

Run: `python benchmarks/ensemble_speed.py [--members 8] [--batch 128] [--threads 2]`

M small networks are trained with sMCL's oracle loss (forward, per-member cross-entropy, backward,
SGD-with-momentum step) on one batch of digits-sized inputs (8x8 = 64 features, 10 classes):

- an MLP 64 -> 128 -> 128 -> 10 on three paths: "loop" (an `nn.ModuleList`, one member after the
  other), "vmap" (the generic `torch.func` path) and "batched-matmul" (the Linear-chain fast path);
- a small conv net (conv 3x3 1->8, conv 3x3 8->16, max-pool, linear 256 -> 10) on "loop", "vmap"
  and "grouped-conv" (the members' channels side by side in grouped convolutions).

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

from nndsl.backend.ensemble.members import Ensemble
from nndsl.backend.ensemble.losses import oracle_loss, per_member_cross_entropy

FEATURES, SIDE, CLASSES = 64, 8, 10
MLP_GOAL, CONV_GOAL = 0.45, 0.6  # step time of the fastest vectorised path / the loop's, M = 8


def mlp_member(index: int) -> nn.Module:
    """MLP member 64 -> 128 -> 128 -> 10, seeded by its index."""
    torch.manual_seed(index)
    return nn.Sequential(
        nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
        nn.Linear(128, CLASSES),
    )


def conv_member(index: int) -> nn.Module:
    """Small conv member for 1x8x8 images, seeded by its index."""
    torch.manual_seed(index)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, CLASSES),
    )


def training_step(ensemble: Ensemble, inputs: torch.Tensor, targets: torch.Tensor) -> Callable:
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
    steps: dict[str, Callable], warmup: int, rounds: int, steps_per_round: int
) -> dict[str, float]:
    """Median seconds per step of every closure, measured in interleaved rounds."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(steps_per_round):
                step()
            samples[name].append((time.perf_counter() - start) / steps_per_round)
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
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, a few seconds: checks that the script still runs")
    options = parser.parse_args()
    if options.smoke:
        (options.members, options.batch, options.warmup, options.rounds,
         options.steps_per_round) = 2, 16, 1, 1, 2
    torch.set_num_threads(options.threads)
    device = torch.device(options.device)
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, CLASSES, (options.batch,), generator=generator).to(device)  # [B]
    print(
        f"torch {torch.__version__} on {device}, {options.threads} threads, M={options.members}, "
        f"batch={options.batch}; median of {options.rounds} rounds "
        f"x {options.steps_per_round} steps"
    )

    flat_inputs = torch.randn(options.batch, FEATURES, generator=generator).to(device)  # [B, 64]
    mlp = {
        "loop": Ensemble(mlp_member, options.members, vectorise=False).to(device),
        "vmap": Ensemble(mlp_member, options.members, batched_matmul=False).to(device),
        "batched-matmul": Ensemble(mlp_member, options.members).to(device),
    }
    assert [ensemble.path for ensemble in mlp.values()] == list(mlp)
    medians = time_side_by_side(
        {name: training_step(ensemble, flat_inputs, targets) for name, ensemble in mlp.items()},
        options.warmup, options.rounds, options.steps_per_round,
    )
    report("MLP 64-128-128-10 (forward + backward + SGD step):", medians, MLP_GOAL)

    if not options.skip_conv:
        images = torch.randn(options.batch, 1, SIDE, SIDE, generator=generator)  # [B, 1, 8, 8]
        images = images.to(device)
        conv = {
            "loop": Ensemble(conv_member, options.members, vectorise=False).to(device),
            "vmap": Ensemble(conv_member, options.members, batched_matmul=False).to(device),
            "grouped-conv": Ensemble(conv_member, options.members).to(device),
        }
        assert [ensemble.path for ensemble in conv.values()] == list(conv)
        medians = time_side_by_side(
            {name: training_step(ensemble, images, targets) for name, ensemble in conv.items()},
            options.warmup, options.rounds, options.steps_per_round,
        )
        report("conv 1-8-16 + linear (forward + backward + SGD step):", medians, CONV_GOAL)


if __name__ == "__main__":
    main()
