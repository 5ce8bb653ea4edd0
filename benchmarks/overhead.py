"""Benchmark: per-step training time of nndsl (as `nndsl train` runs it) against a handwritten loop.

Run: `python benchmarks/overhead.py [--steps 6] [--rounds 2] [--device cpu|cuda] [--only blstm|mlp]`

Two models, each trained on the same tensors, batch, optimiser, gradient clipping and seed by

- nndsl: the spec compiled by the front end, `GraphModule` + `NndslModule` built with the phase's
  parameter groups and optimiser, on the Lightning Trainer that `nndsl.run.session.trainer_for`
  makes for `nndsl train` (its logger, progress bar, precision and determinism settings);
- hand: plain PyTorch modules and a `for` loop (forward, loss, backward, clip, step).

(a) the top-down paper's encoder, `specs/topdown_blstm_ctc.yaml`'s network: 4 x (BLSTM 320 +
linear-tanh projection 320) and a softmax over 21 labels, CTC, Adadelta, clipping 5; batches of
16 x 200 frames x 40 features with per-utterance lengths (both sides pack the sequences, as
ESPnet does). (b) a deep MLP on scikit-learn's digits (8 x relu 256), cross-entropy, SGD with
momentum, batches of 64.

A step is timed from the start of one training batch to the start of the next (a Lightning
callback's `on_train_batch_start` on the nndsl side), so everything the framework does per step
counts — device transfer, hooks, logging, progress bar — and nothing else: validation, data
generation and Trainer set-up are outside. Sides alternate round by round after a warm-up, and
the median step of each is printed with their ratio (nndsl / hand). Goal: <= 1.10 for (a).
A third side, "lightning", runs the hand-written model in a minimal LightningModule on the same
Trainer, which splits the difference into Lightning's share and nndsl's own. `--profile` prints
torch's operator profile and Python's profile of a few nndsl steps of each model.

Measured on the shared 2-core CPU box (1 thread, other jobs running, load 3 to 12; three runs of
(a), 12 steps per side each; medians in seconds hand / Lightning / nndsl):
(a) 11.67 / 11.87 / 11.29, 13.96 / 11.86 / 10.88, 17.83 / 16.93 / 16.91: nndsl / hand = 0.97, 0.78,
0.95. A CPU step takes 11-18 s, and Lightning and nndsl add a few milliseconds to it, so the ratio
is 1.0 within the box's noise (the goal, <= 1.10, holds). (b) 360 steps per side: hand 8.2 ms,
Lightning 10.8 ms (1.32), nndsl 11.2 ms (1.37); another run 7.1 / 8.8 / 11.8 ms. There the fixed
per-step cost shows: Lightning's loop (hooks, batch transfer through `apply_to_collection`,
optimiser closure, progress bar) about 2 ms, and nndsl's about 0.5-3 ms more, mostly
`self.log("train/loss")` every step (Lightning moves its result collection to the value's device
on every call) and the graph module's per-layer bookkeeping.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.nn import functional
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.data import DataLoader

from nndsl.api import Compiled, compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.losses import CompiledLoss
from nndsl.plan import StopPlan
from nndsl.run.session import RunContext, build_module, trainer_for
from nndsl.run.train import _quiet_lightning

ROOT = Path(__file__).resolve().parents[1]
BLSTM_SPEC = ROOT / "specs/topdown_blstm_ctc.yaml"
MLP_DEPTH, MLP_WIDTH = 8, 256
BLSTM_GOAL, MLP_GOAL = 1.05, 1.15  # median step time nndsl / hand-written loop
MLP_SPEC = f"""
nndsl: 1
name: overhead-mlp
seed: 1
data: {{source: digits, batch_size: 64}}
network:
  layers:
{"".join(f"    - {{name: h{index}, type: linear, units: {MLP_WIDTH}, activation: relu}}{chr(10)}"
         for index in range(1, MLP_DEPTH + 1))}    - {{name: out, type: linear, units: 10}}
loss: {{type: cross_entropy}}
metrics: [accuracy]
optimizer: {{type: sgd, lr: 0.05, momentum: 0.9}}
"""
Batch = dict[str, torch.Tensor]


# ------------------------------------------------------------------------------------ hand side


class HandBLSTMP(nn.Module):
    """ESPnet's BLSTMP encoder written out: per layer a packed BLSTM, then linear + tanh."""

    def __init__(self, features: int, hidden: int, layers: int, labels: int):
        super().__init__()
        sizes = [features] + [hidden] * (layers - 1)
        self.blstms = nn.ModuleList(nn.LSTM(size, hidden, batch_first=True, bidirectional=True)
                                    for size in sizes)
        self.projections = nn.ModuleList(nn.Linear(2 * hidden, hidden) for _ in sizes)
        self.out = nn.Linear(hidden, labels)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = inputs
        for blstm, projection in zip(self.blstms, self.projections):
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            output, _ = blstm(packed)
            output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
            x = torch.tanh(projection(output))
        return self.out(x)


class HandMLP(nn.Sequential):
    def __init__(self, features: int, classes: int):
        layers: list[nn.Module] = []
        for index in range(MLP_DEPTH):
            layers += [nn.Linear(features if index == 0 else MLP_WIDTH, MLP_WIDTH), nn.ReLU()]
        super().__init__(*layers, nn.Linear(MLP_WIDTH, classes))


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Give `target` the nndsl network's weights, module kind by module kind in order."""
    for kind in (nn.LSTM, nn.Linear):
        sources = [module for module in source.modules() if type(module) is kind]
        targets = [module for module in target.modules() if type(module) is kind]
        assert len(sources) == len(targets), (kind, len(sources), len(targets))
        for from_module, to_module in zip(sources, targets):
            to_module.load_state_dict(from_module.state_dict())


def hand_loss(kind: str, output: torch.Tensor, batch: Batch,
              cpu_lengths: torch.Tensor | None) -> torch.Tensor:
    if kind == "ctc":
        log_probabilities = functional.log_softmax(output, dim=-1).transpose(0, 1)
        return functional.ctc_loss(log_probabilities, batch["targets"], cpu_lengths,
                                   batch["target_lengths_cpu"], blank=0, zero_infinity=True)
    return functional.cross_entropy(output, batch["targets"])


def hand_steps(model: nn.Module, kind: str, batches: list[Batch], device: torch.device,
               clip: float | None, optimizer_factory: Any) -> list[float]:
    """One round of the hand-written loop; returns the start time of every step (and one past)."""
    optimizer = optimizer_factory(model.parameters())
    model.train()
    starts = []
    for batch in batches:
        synchronise(device)
        starts.append(time.perf_counter())
        on_device = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
        cpu_lengths = batch.get("input_lengths")  # pack_padded_sequence wants lengths on the CPU
        if cpu_lengths is not None:
            on_device["target_lengths_cpu"] = batch["target_lengths"]
            output = model(on_device["inputs"], cpu_lengths)
        else:
            output = model(on_device["inputs"])
        loss = hand_loss(kind, output, on_device, cpu_lengths)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    synchronise(device)
    starts.append(time.perf_counter())
    return starts


# ----------------------------------------------------------------------------------- nndsl side


class StepTimer(Callback):
    """Records when each training batch starts (after the device is idle)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, module, batch, batch_index) -> None:
        synchronise(self.device)
        self.starts.append(time.perf_counter())

    # before checkpointing at the epoch's end
    def on_train_epoch_end(self, trainer, module) -> None:
        synchronise(self.device)
        self.starts.append(time.perf_counter())


@dataclass
class NndslSide:
    compiled: Compiled
    network: GraphModule
    context: RunContext

    @classmethod
    def build(cls, compiled: Compiled, directory: Path, training_examples: int) -> NndslSide:
        spec, plan, signature = compiled.spec, compiled.plan, compiled.signature
        torch.manual_seed(spec.seed)
        network = GraphModule(compiled.graph, plan.tempering)
        loss = CompiledLoss(spec.loss, signature.target_kind, training_examples,
                            plan.loss_terms)
        context = RunContext(compiled, network, None, loss, directory)  # no data module needed
        return cls(compiled, network, context)

    def module(self) -> Any:
        phase = self.compiled.plan.phases[0]
        return build_module(self.context, phase.trainable, phase.parameter_groups,
                            phase.optimizer, 1)

    def steps(self, batches: list[Batch], device: torch.device, label: str) -> list[float]:
        """One round: a Trainer as `nndsl train` makes it, one epoch over `batches`."""
        timer = StepTimer(device)
        trainer = trainer_for(self.context, label, StopPlan("train/loss", "min", None, 1), [timer])
        loader = DataLoader(batches, batch_size=None, shuffle=False)
        deterministic = deterministic_setting()
        try:
            trainer.fit(self.module(), train_dataloaders=loader)
        finally:
            set_deterministic(deterministic)  # the Trainer sets it process-wide
        return timer.starts


class BareLightning(LightningModule):
    """The hand-written model in a minimal LightningModule: what Lightning alone costs per step."""

    def __init__(self, model: nn.Module, kind: str, optimizer_factory: Any):
        super().__init__()
        self.model, self.kind, self.optimizer_factory = model, kind, optimizer_factory

    def training_step(self, batch: Batch, batch_index: int) -> torch.Tensor:
        lengths = batch.get("input_lengths")
        if lengths is None:
            return hand_loss(self.kind, self.model(batch["inputs"]), batch, None)
        lengths = lengths.cpu()
        batch = {**batch, "target_lengths_cpu": batch["target_lengths"].cpu()}
        return hand_loss(self.kind, self.model(batch["inputs"], lengths), batch, lengths)

    def configure_optimizers(self) -> Any:
        return self.optimizer_factory(self.model.parameters())


def bare_lightning_steps(side: NndslSide, module: BareLightning, batches: list[Batch],
                         device: torch.device, label: str) -> list[float]:
    """One round of the bare module on the same Trainer as the nndsl side."""
    timer = StepTimer(device)
    trainer = trainer_for(side.context, label, StopPlan("train/loss", "min", None, 1), [timer])
    deterministic = deterministic_setting()
    try:
        trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None, shuffle=False))
    finally:
        set_deterministic(deterministic)
    return timer.starts


# ---------------------------------------------------------------------------------------- common


def deterministic_setting() -> bool | str:
    """torch's process-wide determinism as a spec writes it: False, True or "warn"."""
    if not torch.are_deterministic_algorithms_enabled():
        return False
    return "warn" if torch.is_deterministic_algorithms_warn_only_enabled() else True


def set_deterministic(setting: bool | str | None) -> None:
    """Apply `trainer.deterministic` as Lightning does: "warn" uses deterministic algorithms
    where they exist and warns (instead of failing) where they do not."""
    torch.use_deterministic_algorithms(bool(setting), warn_only=setting == "warn")


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_times(starts: list[float], warmup: int) -> list[float]:
    return [later - earlier for earlier, later in zip(starts, starts[1:])][warmup:]


def blstm_batches(count: int, seed: int) -> list[Batch]:
    """Synthetic 16 x 200 x 40 utterances with lengths 150..200 and 20..40 labels out of 1..20."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        lengths = torch.randint(150, 201, (16,), generator=generator)
        lengths[0] = 200
        target_lengths = torch.randint(20, 41, (16,), generator=generator)
        batches.append({"inputs": torch.randn(16, 200, 40, generator=generator),
                        "input_lengths": lengths,
                        "targets": torch.randint(1, 21, (16, 40), generator=generator),
                        "target_lengths": target_lengths})
    return batches


def mlp_batches(compiled: Compiled, count: int) -> list[Batch]:
    """`count` batches of the digits training split, as the data module yields them."""
    from nndsl.run.train import load_data

    datamodule = load_data(compiled)
    datamodule.setup()
    batches: list[Batch] = []
    while len(batches) < count:
        batches.extend(datamodule.train_dataloader())
    return batches[:count]


def compile_for(path: Path, device: torch.device, overrides: list[str],
                text: str | None = None) -> Compiled:
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    overrides = [f"trainer.accelerator={accelerator}", "trainer.devices=1", *overrides]
    return compile_spec(path, overrides, text=text).raise_for_errors()


def hand_optimizer(optimizer: Any) -> Callable[[Any], torch.optim.Optimizer]:
    """The hand loop's and bare Lightning's optimiser: the spec's (Adadelta or SGD), by hand."""

    def optimizer_factory(parameters: Any) -> torch.optim.Optimizer:
        if optimizer.type == "adadelta":
            return torch.optim.Adadelta(parameters, lr=optimizer.lr, rho=optimizer.rho,
                                        eps=optimizer.eps)
        return torch.optim.SGD(parameters, lr=optimizer.lr, momentum=optimizer.momentum)

    return optimizer_factory


def measure(name: str, side: NndslSide, hand: nn.Module, kind: str, batches: list[Batch],
            device: torch.device, arguments: argparse.Namespace,
            goal: float) -> tuple[float, float]:
    spec = side.compiled.spec
    clip = spec.trainer.gradient_clip_val
    optimizer_factory = hand_optimizer(spec.optimizer)

    bare = BareLightning(copy.deepcopy(hand), kind, optimizer_factory)
    hand.to(device)
    set_deterministic(spec.trainer.deterministic)  # the same setting on every side
    times: dict[str, list[float]] = {"nndsl": [], "hand": [], "lightning": []}
    runs = {"hand": lambda index: hand_steps(hand, kind, batches, device, clip, optimizer_factory),
            "nndsl": lambda index: side.steps(batches, device, f"{name}-{index}")}
    if arguments.bare_lightning:
        runs["lightning"] = lambda index: bare_lightning_steps(side, bare, batches, device,
                                                               f"bare-{index}")
    order = list(runs)
    for round_index in range(arguments.rounds):
        # rotate who goes first
        for key in order[round_index % len(order):] + order[: round_index % len(order)]:
            times[key] += step_times(runs[key](round_index), arguments.warmup)
    set_deterministic(False)
    medians = {key: statistics.median(values) for key, values in times.items() if values}
    print(f"{name}: {len(times['hand'])} steps per side, median (mean) ms/step")
    for key in ("hand", "lightning", "nndsl"):
        if key in medians:
            print(f"    {key:<10} {medians[key] * 1e3:9.2f} "
                  f"({statistics.mean(times[key]) * 1e3:9.2f})   "
                  f"ratio to hand {medians[key] / medians['hand']:6.3f}")
    ratio = medians["nndsl"] / medians["hand"]
    print(f"    goal: nndsl / hand <= {goal:.2f}: ratio {ratio:.3f}: "
          f"{'met' if ratio <= goal else 'not met'}")
    print(flush=True)
    return medians["nndsl"], medians["hand"]


def check_same_model(side: NndslSide, hand: nn.Module, kind: str, batch: Batch) -> None:
    """The two sides compute the same loss from the same weights (evaluation mode, no noise)."""
    copy_weights(side.network, hand)
    side.network.eval()
    hand.eval()
    with torch.no_grad():
        output, lengths = side.network(batch["inputs"], batch.get("input_lengths"))
        nndsl_loss, _ = side.context.loss(side.network, output, lengths, batch)
        lengths = batch.get("input_lengths")
        hand_output = (hand(batch["inputs"], lengths) if lengths is not None
                       else hand(batch["inputs"]))
        batch = {**batch, "target_lengths_cpu": batch.get("target_lengths")}
        reference = hand_loss(kind, hand_output, batch, lengths)
    assert torch.allclose(nndsl_loss, reference, rtol=1e-4, atol=1e-5), (nndsl_loss, reference)
    side.network.train()
    hand.train()
    trainable = sum(parameter.numel() for parameter in side.network.parameters())
    assert trainable == sum(parameter.numel() for parameter in hand.parameters())


#: The operators that do a step's real work: the recurrent kernel, packing, the layers, the loss
#: and its reduction, the backward of each, gradient clipping and the optimiser's update.
WORK_OPERATORS = ("aten::lstm", "aten::_pack_padded_sequence", "aten::_pad_packed_sequence",
                  "aten::addmm", "aten::mm", "aten::tanh", "aten::relu", "aten::log_softmax",
                  "aten::_log_softmax", "aten::ctc_loss", "aten::_ctc_loss",
                  "aten::cross_entropy_loss", "aten::nll_loss_nd", "aten::mean", "aten::sum",
                  "aten::div", "aten::linalg_vector_norm",
                  "aten::_foreach_norm", "aten::clamp", "aten::addcmul_", "aten::addcdiv_",
                  "aten::sqrt", "aten::_cudnn_rnn", "aten::threshold_backward",
                  "aten::_ctc_loss_backward", "aten::tanh_backward")


def work_counts(run_steps) -> dict[str, int]:
    """How often each work operator ran during `run_steps()` (torch's profiler)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as profiler:
        run_steps()
    return {event.key: event.count for event in profiler.key_averages()
            if event.key in WORK_OPERATORS}


def check_same_work(name: str, side: NndslSide, hand: nn.Module, kind: str, batches: list[Batch],
                    device: torch.device) -> bool:
    """Both sides run the same work operators the same number of times over `batches` (the
    nndsl side's trainer set-up and epoch end run outside its steps, but not outside the
    profile: operators they share with a step are then counted apart, as a difference)."""
    spec = side.compiled.spec
    optimizer_factory = hand_optimizer(spec.optimizer)

    hand_work = work_counts(lambda: hand_steps(hand, kind, batches, device,
                                               spec.trainer.gradient_clip_val, optimizer_factory))
    nndsl_work = work_counts(lambda: side.steps(batches, device, f"{name}-work"))
    differences = {key: (hand_work.get(key, 0), nndsl_work.get(key, 0))
                   for key in sorted(set(hand_work) | set(nndsl_work))
                   if hand_work.get(key, 0) != nndsl_work.get(key, 0)}
    same = not differences
    print(f"{name}: work operators over {len(batches)} steps (hand / nndsl): "
          + ("identical, " + ", ".join(f"{key} {count}" for key, count in sorted(hand_work.items()))
             if same else "different: " + ", ".join(
                 f"{key} {mine} / {theirs}" for key, (mine, theirs) in differences.items())))
    return same


def profile(name: str, side: NndslSide, batches: list[Batch], device: torch.device) -> None:
    """torch's operator profile, then Python's (where framework time goes) of nndsl steps."""
    import cProfile
    import pstats
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as profiler:
        side.steps(batches, device, f"{name}-profile")
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"\n{name}: torch profile of {len(batches)} nndsl steps (top 20 by {sort})")
    print(profiler.key_averages().table(sort_by=sort, row_limit=20))
    python_profile = cProfile.Profile()
    python_profile.runcall(side.steps, batches, device, f"{name}-cprofile")
    print(f"{name}: Python profile of {len(batches)} nndsl steps, Trainer set-up included "
          "(top 30 by own time)")
    pstats.Stats(python_profile).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per side per round")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed steps at the start of each round")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two sides")
    parser.add_argument("--mlp-steps", type=int, default=None,
                        help="timed MLP steps per round (default 30 x --steps)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 on the CPU, where other processes "
                             "on a shared box make threads wait on each other; torch's default "
                             "with --device cuda)")
    parser.add_argument("--only", choices=("blstm", "mlp"), default=None)
    parser.add_argument("--profile", action="store_true",
                        help="also print torch's profile of nndsl steps")
    parser.add_argument("--check-work", action="store_true",
                        help="first compare the work operators both sides run over two steps")
    parser.add_argument("--no-bare-lightning", dest="bare_lightning", action="store_false",
                        help="leave out the third side: the hand model in a minimal "
                             "LightningModule")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="PATH=VALUE", help="spec override for both models, "
                                                   "e.g. --set trainer.deterministic=false")
    parser.add_argument("--smoke", action="store_true",
                        help="the MLP only, a few steps: checks that the script still runs "
                             "(a CPU step of the BLSTM model takes seconds)")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.only, arguments.steps, arguments.mlp_steps, arguments.rounds = "mlp", 2, 3, 1
    device = torch.device(arguments.device)
    threads = arguments.threads or (1 if device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    _quiet_lightning()
    print(f"device {device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}; "
          f"{arguments.rounds} rounds x {arguments.steps} steps after {arguments.warmup} warm-up",
          flush=True)
    with tempfile.TemporaryDirectory() as directory:
        if arguments.only in (None, "blstm"):
            compiled = compile_for(BLSTM_SPEC, device, arguments.overrides)
            side = NndslSide.build(compiled, Path(directory), training_examples=1600)
            torch.manual_seed(compiled.spec.seed)
            hand = HandBLSTMP(40, 320, 4, 21)
            batches = blstm_batches(arguments.warmup + arguments.steps, seed=0)
            check_same_model(side, hand, "ctc", batches[0])
            side.network.to(device)
            if arguments.check_work:
                check_same_work("(a)", side, hand, "ctc", batches[:2], device)
            measure("(a) 4 x BLSTMP-320 + CTC, 16x200x40", side, hand, "ctc", batches, device,
                    arguments, BLSTM_GOAL)
            if arguments.profile:
                profile("blstm", side, batches[: arguments.warmup + 2], device)
        if arguments.only in (None, "mlp"):
            compiled = compile_for(ROOT / "benchmarks/overhead-mlp.yaml", device,
                                   arguments.overrides, text=MLP_SPEC)
            side = NndslSide.build(compiled, Path(directory), training_examples=1797)
            hand = HandMLP(64, 10)
            steps = arguments.mlp_steps or 30 * arguments.steps
            mlp_arguments = argparse.Namespace(**{**vars(arguments),
                                                  "warmup": max(arguments.warmup, 5)})
            batches = mlp_batches(compiled, mlp_arguments.warmup + steps)
            check_same_model(side, hand, "class", batches[0])
            side.network.to(device)
            if arguments.check_work:
                check_same_work("(b)", side, hand, "class", batches[:2], device)
            measure(f"(b) MLP 8 x relu {MLP_WIDTH} on digits, batch 64", side, hand, "class",
                    batches, device, mlp_arguments, MLP_GOAL)
            if arguments.profile:
                profile("mlp", side, batches[:20], device)


if __name__ == "__main__":
    main()
