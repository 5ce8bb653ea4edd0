"""Benchmark: `nndsl validate` and `nndsl show` time and peak memory as networks grow.

Run: `python benchmarks/validate_scaling.py [--sizes 100 500 1000 2000 5000] [--variants ...] [--repeat 3]`
(`--smoke`: two tiny sizes, every variant, a process per variant; seconds).

For each variant and size a spec is generated (a digits MLP of that many layers, or a token
language model for the recurrent variant) and both commands run in a fresh process each, as a
user runs them: the wall time of the whole process (interpreter start-up included) and its peak
resident memory (`ru_maxrss` from `os.wait4`). Each process also reports the time spent inside
the command itself, nndsl's modules already imported ("work": the part that grows with the
network), as wall seconds and as the process's CPU seconds. The growth ratio time(2n)/time(n) is
taken of that part, since the fixed start-up would hide super-linear growth, and of its CPU time:
the command runs on one thread, so on a quiet machine CPU time is its wall time, while on a
loaded one the wall time also counts the turns other processes take on the cores (on the shared
development machine, with load averages of 10 on 2 cores, wall-time ratios swing from 1 to 4
between identical runs). Both ratios are printed; the goal is judged on CPU time.

Variants:

* plain — n layers listed one by one (linear 32 tanh, then the linear output);
* cuts — the same with `cuts: units` (a cut between every pair of layers);
* top_down — cuts plus a joint phase and a greedy top-down search over every cut;
* memory — a chain of wide and narrow layers under `memory: {budget: 50%}` (checkpoint segments);
* recurrent — an embedding, then lstm + two linear layers repeated, under a memory budget
  (recompute policies for the lstm layers, checkpoint segments for the chains between them);
* blocks — `block: dense, repeat: n/2` (the stdlib's linear + dropout block; entries of at most
  1000 repeats, the limit of `repeat`).

Goals, on the 2-core development machine: at 2000 layers validate <= 1.0 s and show <= 2.0 s, at
5000 layers both <= 3.0 s, growth ratio <= 2.3, peak memory <= 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "cuts", "top_down", "memory", "recurrent", "blocks")
GOAL_SECONDS = {2000: {"validate": 1.0, "show": 2.0}, 5000: {"validate": 3.0, "show": 3.0}}
GOAL_GROWTH = 2.3
GOAL_MEGABYTES = 250.0

_DIGITS_HEADER = """nndsl: 1
name: scaling-{variant}-{size}
seed: 1
data: {{source: digits, batch_size: 64, valid_fraction: 0.15, test_fraction: 0.15}}
loss: {{type: cross_entropy}}
metrics: [accuracy]
optimizer: {{type: sgd, lr: 0.1}}
trainer: {{max_epochs: 1}}
"""


def spec_text(variant: str, size: int) -> str:
    """A valid spec of `variant` whose network has `size` layers (at least 4)."""
    if variant == "recurrent":
        return _recurrent_text(size)
    text = _DIGITS_HEADER.format(variant=variant, size=size)
    if variant == "blocks":
        text += "use: [std:blocks/dense]\nnetwork:\n  layers:\n"
        remaining, part = (size - 1) // 2, 1
        while remaining:  # `repeat` allows up to MAX_REPEAT (1000) per entry
            repeat = min(remaining, 1000)
            text += (f'    - {{block: dense, repeat: {repeat}, name: "part{part}.hidden{{index}}", '
                     f'with: {{units: 32}}}}\n')
            remaining, part = remaining - repeat, part + 1
    else:
        text += "network:\n  layers:\n"
        for index in range(1, size):
            if variant == "memory":  # wide and narrow layers: segment boundaries matter
                units, activation = (256, "relu") if index % 2 else (32, "tanh")
            else:
                units, activation = 32, "tanh"
            text += f"    - {{name: layer{index}, type: linear, units: {units}, activation: {activation}}}\n"
    text += "    - {name: out, type: linear, units: 10}\n"
    if variant in ("cuts", "top_down"):
        text += "cuts: units\n"
    if variant == "top_down":
        text += ("schedule:\n  - {phase: joint, stop: {monitor: valid/loss, patience: 2}}\n"
                 "  - {phase: top_down, search: greedy, monitor: valid/loss}\n")
    if variant == "memory":
        text += "memory: {budget: 50%, policy: optimal}\n"
    return text


def _recurrent_text(size: int) -> str:
    """embedding, (lstm, linear, linear) repeated, output: `size` layers in all."""
    text = ("nndsl: 1\nname: scaling-recurrent\nseed: 1\n"
            "data: {source: markov_text, vocabulary_size: 20, sequence_length: 32, examples: 64, "
            "batch_size: 8}\n"
            "network:\n  layers:\n    - {name: embed, type: embedding, vocabulary: 20, dim: 32}\n")
    for index in range(1, size - 1):
        if index % 3 == 1:
            text += f"    - {{name: layer{index}, type: lstm, hidden: 32}}\n"
        else:
            units, activation = (128, "relu") if index % 3 == 2 else (32, "tanh")
            text += f"    - {{name: layer{index}, type: linear, units: {units}, activation: {activation}}}\n"
    text += ("    - {name: out, type: linear, units: 20}\nloss: {type: cross_entropy}\n"
             "metrics: [perplexity]\noptimizer: {type: sgd, lr: 1.0}\ntrainer: {max_epochs: 1}\n"
             "memory: {budget: 50%, policy: optimal}\n")
    return text


def measure(jobs: list[tuple[str, Path]]) -> list[dict[str, float]]:
    """Run `nndsl COMMAND SPEC` for each job in one fresh process: wall seconds of the process,
    work seconds of each job, peak megabytes of the process (so one job per process measures
    that job's memory)."""
    command = [sys.executable, __file__, "--child", *(f"{name}={spec}" for name, spec in jobs)]
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=errors)
        # wait4 gives this child's own resource usage (RUSAGE_CHILDREN would be a maximum over all).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        errors.seek(0)
        printed, complaints = output.read().decode(), errors.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{complaints[-3000:]}")
    reported = json.loads(printed.strip().splitlines()[-1])
    return [{"wall": wall, "work": work, "cpu": cpu, "megabytes": usage.ru_maxrss / 1024}
            for work, cpu in zip(reported["work"], reported["cpu"])]


def child(jobs: list[str]) -> None:
    """In the measured process: run `nndsl COMMAND SPEC` for each COMMAND=SPEC with its output
    discarded; print the seconds each took (after the interpreter and the command line module
    are loaded)."""
    import importlib

    from nndsl.cli import main

    # What the commands import on the way, loaded before the clock starts (only what they would
    # import anyway, so the process's wall time stays the command's): the work measured is what
    # grows with the network, not start-up.
    for job in jobs:
        command, spec = job.split("=", 1)
        modules = ["nndsl.cli.commands"] + (["nndsl.cli.show", "nndsl.cli.render"] if command == "show" else [])
        modules += ["nndsl.plan.memory.budget"] if "\nmemory:" in Path(spec).read_text() else []
        for module in modules:
            importlib.import_module(module)
    real_stdout, works, cpus = sys.stdout, [], []
    with open(os.devnull, "w") as sink:
        for job in jobs:
            command, spec = job.split("=", 1)
            sys.stdout = sink
            start, cpu_start = time.perf_counter(), time.process_time()
            status = main([command, spec])
            works.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu_start)
            sys.stdout = real_stdout
            if status != 0:
                raise SystemExit(f"nndsl {command} {spec}: exit status {status}")
    print(json.dumps({"work": works, "cpu": cpus}))


def median_of(measure_jobs, jobs: list[tuple[str, Path]], repeat: int) -> dict[str, float]:
    """The median of `repeat` measurements of one job, metric by metric."""
    runs = [measure_jobs(jobs)[0] for _ in range(max(1, repeat))]
    return {metric: statistics.median(run[metric] for run in runs) for metric in runs[0]}


def _load() -> str:
    """The 1, 5 and 15 minute load averages (figures on a loaded machine are indicative)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000, 2000, 5000])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--repeat", type=int, default=1,
                        help="processes per measurement, the median printed (a shared machine's load varies)")
    parser.add_argument("--smoke", action="store_true",
                        help="sizes 10 and 20, one process per variant: checks that the script still runs")
    parser.add_argument("--child", nargs="+", metavar="COMMAND=SPEC", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child)
        return
    sizes = [10, 20] if arguments.smoke else sorted(arguments.sizes)
    results: dict[tuple[str, int, str], dict[str, float]] = {}
    missed: list[str] = []
    print(f"load average at the start: {_load()}")
    print(f"{'variant':<10} {'layers':>6}  {'validate':>8} {'work':>7} {'cpu':>6} {'MB':>5}  "
          f"{'show':>7} {'work':>7} {'cpu':>6} {'MB':>5}  goals")
    with tempfile.TemporaryDirectory(prefix="nndsl-scaling-") as folder:
        for variant in arguments.variants:
            specs = {size: Path(folder) / f"{variant}-{size}.yaml" for size in sizes}
            for size, spec in specs.items():
                spec.write_text(spec_text(variant, size))
            jobs = [(command, spec) for spec in specs.values() for command in ("validate", "show")]
            # One process per measurement; the smoke run shares one per variant (its figures
            # mean nothing, it only shows that every variant still compiles and shows).
            measured = measure(jobs) if arguments.smoke else [median_of(measure, [job], arguments.repeat)
                                                              for job in jobs]
            for size in sizes:
                row = {command: measured.pop(0) for command in ("validate", "show")}
                results.update({(variant, size, command): value for command, value in row.items()})
                checks = [row[command]["megabytes"] <= GOAL_MEGABYTES for command in row]
                checks += [row[command]["wall"] <= limit for command, limit in GOAL_SECONDS.get(size, {}).items()]
                if not all(checks):
                    missed.append(f"{variant}@{size}")
                cells = "  ".join(f"{row[command]['wall']:>7.2f}s {row[command]['work']:>6.2f}s "
                                  f"{row[command]['cpu']:>5.2f}s {row[command]['megabytes']:>5.0f}"
                                  for command in ("validate", "show"))
                print(f"{variant:<10} {size:>6} {cells}  {verdict(all(checks))}", flush=True)
    print(f"growth ratio work(2n)/work(n) of CPU time (goal <= {GOAL_GROWTH}), "
          "wall time in brackets:")
    worst = 0.0
    for variant in arguments.variants:
        parts = []
        for size in sizes:
            if 2 * size in sizes:
                ratios = {(command, metric): results[variant, 2 * size, command][metric]
                          / max(results[variant, size, command][metric], 1e-9)
                          for command in ("validate", "show") for metric in ("cpu", "work")}
                worst = max(worst, ratios["validate", "cpu"], ratios["show", "cpu"])
                parts.append(f"{2 * size}/{size}: " + " ".join(
                    f"{command} {ratios[command, 'cpu']:.2f} ({ratios[command, 'work']:.2f})"
                    for command in ("validate", "show")))
        print(f"  {variant:<10} " + ("; ".join(parts) or "no size pair n, 2n"))
    met = worst <= GOAL_GROWTH
    print(f"ratio: worst growth {worst:.2f} ({verdict(met)}); time and memory goals "
          + (f"MISSED at {', '.join(missed)}" if missed else "met at every size")
          + f"; python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average at the end: "
          + _load())


if __name__ == "__main__":
    main()
