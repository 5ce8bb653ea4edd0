"""Budgeted checkpointing of feed-forward chains against plain backprop and equal splits.

A deep MLP (default) or conv chain with unequal widths is compiled from a spec with
`memory: {budget: P%}` for each budget P; the planner's segments run under
`torch.utils.checkpoint` in nndsl's own GraphModule. For each budget, in one run, we measure:

* bytes saved for backward, counted per storage with saved-tensor hooks, recomputation included
  (`nndsl.backend.saved_tensor_meter.SavedTensorMeter`): the peak next to the budget and the
  planner's predicted peak;
* the time of one training step (forward + backward, dropout on) against the same network
  without checkpoints: in each round every variant runs once (plain, planned, equal, order
  rotated) and the ratio to plain is taken within the round; the median over rounds is printed
  (pairing within a round cancels most of a shared machine's changing load);
* the equal-split baseline at the same budget: of the equal-count segmentations (all segments
  but the last checkpointed) whose predicted peak fits, the one recomputing least, executed and
  measured the same way.

Run: ``python benchmarks/memory_chain.py`` (``--network conv`` for the conv chain, ``--batch``,
``--repeats``, ``--budgets 10,20,30,40,50``).
"""

from __future__ import annotations

import argparse
import tempfile
import statistics
import time
from pathlib import Path

import torch

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.saved_tensor_meter import SavedTensorMeter
from nndsl.plan.memory.chains import chain_layers, find_chains
from nndsl.plan.memory.segments import equal_segments, evaluate, step_cost
from nndsl.records import replace


# 16 blocks: a wide ReLU layer (widths cycling 1024, 2048, 512, 1536), dropout in every other
# block, a narrow tanh bottleneck (32, 64, 128): boundaries are cheap to keep at the bottlenecks.
MLP = [layer for block in range(16) for layer in (
    ("linear", (1024, 2048, 512, 1536)[block % 4], "relu"),
    *((("dropout", 0.1, None),) if block % 2 == 0 else ()),
    ("linear", (32, 64, 128)[block % 3], "tanh"))] + [("linear", 10, "linear")]
# 6 blocks at 32x32: a wide 3x3 ReLU convolution (16, 32 or 48 channels) and a narrow one (4),
# dropout after every other block, then pooling and a classifier.
CONV = [layer for block in range(6) for layer in (
    ("conv2d", (16, 32, 48)[block % 3], "relu"), ("conv2d", 4, "relu"),
    *((("dropout", 0.1, None),) if block % 2 == 1 else ()))] + [
    ("maxpool", 4, None), ("flatten", None, None), ("linear", 10, "linear")]


def spec_text(network: str, batch: int, budget: str, data: Path) -> str:
    """A spec for the chosen chain; `data` (a small .npz) only fixes the input shape."""
    lines = []
    for index, (kind, size, activation) in enumerate(MLP if network == "mlp" else CONV):
        if kind == "linear":
            lines.append(f"{{name: l{index}, type: linear, units: {size}, activation: {activation}}}")
        elif kind == "conv2d":
            lines.append(f"{{name: l{index}, type: conv2d, channels: {size}, kernel: 3, padding: same, "
                         f"activation: {activation}}}")
        elif kind == "dropout":
            lines.append(f"{{name: l{index}, type: dropout, p: {size}}}")
        elif kind == "maxpool":
            lines.append(f"{{name: l{index}, type: maxpool, kernel: {size}}}")
        else:
            lines.append(f"{{name: l{index}, type: flatten}}")
    layers = "\n".join(f"    - {line}" for line in lines)
    return (f"nndsl: 1\nname: bench\ndata: {{source: npz, path: {data}, task: class, num_classes: 10, "
            f"batch_size: {batch}}}\nnetwork:\n  layers:\n{layers}\nloss: {{type: cross_entropy}}\n"
            f"memory: {{budget: \"{budget}\", policy: optimal}}\noptimizer: {{type: sgd, lr: 0.1}}\n")


def compiled(network: str, batch: int, budget: str, directory: Path):
    data = directory / f"{network}.npz"
    if not data.exists():
        import numpy

        shape = (16, 512) if network == "mlp" else (16, 3, 32, 32)
        numpy.savez(data, inputs=numpy.zeros(shape, numpy.float32), targets=numpy.arange(16) % 10)
    path = directory / "bench.yaml"
    path.write_text(spec_text(network, batch, budget, data))
    return compile_spec(path)


def training_step(model: GraphModule, inputs: torch.Tensor, targets: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    output, _ = model(inputs)
    torch.nn.functional.cross_entropy(output, targets).backward()


def measured_peak(model: GraphModule, inputs: torch.Tensor, targets: torch.Tensor) -> int:
    meter = SavedTensorMeter(exclude=[*model.parameters(), inputs])
    model.checkpoint_context = meter.recompute_context
    model.zero_grad(set_to_none=True)
    with meter:
        output, _ = model(inputs)
    torch.nn.functional.cross_entropy(output, targets).backward()
    model.checkpoint_context = torch.utils.checkpoint.noop_context_fn
    return meter.peak_bytes


def step_time_ratios(models: dict[str, GraphModule], inputs, targets, repeats: int) -> dict[str, float]:
    """Median over rounds of each model's step time / the plain model's in the same round.

    Each round runs every model once, in an order rotated from round to round; pairing within a
    round cancels most of the drift of a shared machine's load.
    """
    ratios: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for round_number in range(repeats):
        times: dict[str, float] = {}
        for name in names[round_number % len(names):] + names[:round_number % len(names)]:
            started = time.perf_counter()
            training_step(models[name], inputs, targets)
            times[name] = time.perf_counter() - started
        for name in names:
            ratios[name].append(times[name] / times["plain"])
    return {name: statistics.median(values) for name, values in ratios.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=["mlp", "conv"], default="mlp")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--budgets", default="10,20,30,40,50", help="percent of plain backprop's saved bytes")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: steadiest on a shared machine, where threads contend)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds: checks that the script still runs")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.batch, arguments.budgets, arguments.repeats = 8, "30,50", 1
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)
    directory = Path(tempfile.mkdtemp())
    reference = compiled(arguments.network, arguments.batch, "100%", directory)
    graph = reference.graph
    chain = chain_layers(graph, find_chains(graph)[0], arguments.batch, None)
    plain_model = GraphModule(graph).train()
    shape = (arguments.batch, 512) if arguments.network == "mlp" else (arguments.batch, 3, 32, 32)
    inputs, targets = torch.randn(*shape), torch.randint(0, 10, (arguments.batch,))
    plain_measured = measured_peak(plain_model, inputs, targets)
    started = time.perf_counter()
    training_step(plain_model, inputs, targets)
    plain_step = time.perf_counter() - started
    plain_planned = reference.plan.memory.chains[0].plain_peak_bytes
    for model in (plain_model, plain_model):  # warm-up: first calls pay one-off set-up costs
        training_step(model, inputs, targets)
    print(f"{arguments.network} chain of {len(chain)} layers, batch {arguments.batch}, {torch.get_num_threads()} "
          f"thread(s); plain backprop saves {plain_measured / 2**20:.2f} MiB measured, "
          f"{plain_planned / 2**20:.2f} MiB predicted; plain step {1000 * plain_step:.0f} ms; time ratios: median "
          f"of {arguments.repeats} rounds, each timing every variant once (order rotated)")
    print(f"{'budget':>7} {'MiB':>7} | {'planned: peak meas.':>19} {'pred.':>6} {'fits':>4} {'time':>6} "
          f"{'pred.':>6} | {'equal split: k':>14} {'peak':>6} {'time':>6} {'pred.':>6}")
    for percent in (float(value) for value in arguments.budgets.split(",")):
        result = compiled(arguments.network, arguments.batch, f"{percent:g}%", directory)
        if not result.ok:
            print(f"{percent:6.0f}% infeasible: {result.diagnostics[0].hint}")
            continue
        memory = result.plan.memory
        planned_chain = memory.chains[0]
        budget = planned_chain.budget_bytes
        planned = GraphModule(graph, memory=memory).train()
        planned.load_state_dict(plain_model.state_dict())
        models = {"plain": plain_model, "planned": planned}
        fitting = [count for count in range(1, len(chain) + 1)
                   if evaluate(chain, equal_segments(chain, count)).peak_bytes <= budget]
        # The strongest equal-split baseline: the count whose recomputation is cheapest.
        equal_count = min(fitting, key=lambda count: evaluate(chain, equal_segments(chain, count)).recompute_cost,
                          default=None)
        if equal_count is not None:
            segments = equal_segments(chain, equal_count)
            names = tuple(layer.name for layer in chain)
            equal_memory = replace(memory, checkpoint_segments=tuple(
                names[segment.start:segment.stop] for segment in segments if segment.checkpointed))
            models["equal"] = GraphModule(graph, memory=equal_memory).train()
            models["equal"].load_state_dict(plain_model.state_dict())
            equal_predicted = 1 + evaluate(chain, segments).recompute_cost / step_cost(chain)
        # Measured first, which also warms each model up (checkpoint's first call imports torch._dynamo).
        peaks = {name: measured_peak(model, inputs, targets) for name, model in models.items() if name != "plain"}
        ratios = step_time_ratios(models, inputs, targets, arguments.repeats)
        equal_text = (f"{equal_count:>14} {peaks['equal'] / 2**20:6.2f} {ratios['equal']:6.2f} "
                      f"{equal_predicted:6.2f}" if equal_count is not None else f"{'none fits':>14}")
        print(f"{percent:6.0f}% {budget / 2**20:7.2f} | {peaks['planned'] / 2**20:19.2f} "
              f"{planned_chain.predicted_peak_bytes / 2**20:6.2f} {'yes' if peaks['planned'] <= budget else 'NO':>4} "
              f"{ratios['planned']:6.2f} {planned_chain.predicted_time_ratio:6.2f} | {equal_text}",
              flush=True)
    print("MiB: saved-for-backward bytes; time: training step vs plain backprop (measured side by side), "
          "pred.: the planner's prediction (1 + recomputed / (forward + backward) FLOP-equivalents)")


if __name__ == "__main__":
    main()
