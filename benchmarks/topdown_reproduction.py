"""Reproduce the top-down training paper's comparisons on data available here, over seeds.

Conditions (Table 2 of the paper, and its "fix the bottom layer, retrain the top" control):
joint, top-down, dropout, dropout + top-down, fix bottom + retrain top; and, not in the paper,
joint training with 3x the patience, and joint training for as many epochs as the same seed's
top-down run took in all (an equal epoch budget), since top-down trains for several runs' worth
of epochs.
Tasks:
  digits  specs/topdown_digits.yaml (+ _fix_bottom): 6-block tanh MLP on scikit-learn's digits
  speech  specs/topdown_speech_small.yaml (+ _fix_bottom): 3 x BLSTMP 64 CTC on synthetic speech
  spoken  specs/topdown_spoken_words.yaml (+ _fix_bottom): the same after a 4x time reduction on
          the espeak-ng spoken corpus, tested on held-out voices (needs espeak-ng; not in the
          default --tasks; --quick: 400 utterances, batch 4, at most 25 epochs per phase)
Per seed, four runs through `nndsl.run.train` with `--set` overrides (`--runs` picks): the
top-down spec (its joint phase's weights give "joint", the final network "top-down"), the same
with dropout, the control, the longer joint run and the equal-budget joint run (after top-down).
Each network is scored on the test split (error: 1 - accuracy for digits, CER for speech).
Printed: mean ± std of the test error per condition, its relative change against joint next to
the paper's (eval92 CER, Table 2), and the bottom unit's Σ|Δθ| under joint training vs the first
top-down attempt (Table 1's diagnostic: larger when the extractor trains below a frozen classifier).

    python benchmarks/topdown_reproduction.py             # both tasks, seeds 1 2 3
    python benchmarks/topdown_reproduction.py --quick     # shorter runs (capped epochs, patience 3)
    python benchmarks/topdown_reproduction.py --tasks digits --seeds 1 2 3 --keep runs/reproduction

With --keep, each finished run's test errors are recorded there (TASK-seedN.json) and not run
again: rerun the same command to continue an interrupted reproduction, or run seeds in parallel
processes and then all seeds together to print the combined table. One seed's runs can be split
too (`--runs top-down budget` in one process, `--runs dropout control longer` in another): the
record is merged, not overwritten, when a run finishes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TASKS = {
    "digits": {"spec": "specs/topdown_digits.yaml",
               "control": "specs/topdown_digits_fix_bottom.yaml",
               "metric": "test/accuracy", "error": lambda value: 1 - value, "unit": "error",
               "dropout": 0.1, "patience": 5, "max_epochs": 100,
               "quick": ["trainer.max_epochs=40", "schedule.0.stop.patience=3",
                         "schedule.1.stop.patience=3"]},
    "speech": {"spec": "specs/topdown_speech_small.yaml",
               "control": "specs/topdown_speech_small_fix_bottom.yaml",
               "metric": "test/cer", "error": lambda value: value, "unit": "CER", "dropout": 0.2,
               "patience": 4, "max_epochs": 40,
               "quick": ["trainer.max_epochs=30", "trainer.min_epochs=10",
                         "schedule.0.stop.patience=3", "schedule.1.stop.patience=3"]},
    "spoken": {"spec": "specs/topdown_spoken_words.yaml",
               "control": "specs/topdown_spoken_words_fix_bottom.yaml",
               "metric": "test/cer", "error": lambda value: value, "unit": "CER", "dropout": 0.2,
               "patience": 4, "max_epochs": 60, "dropout_layer": 1,
               # Small batches: CTC's all-blank plateau lasts a number of updates, not epochs.
               "quick": ["data.utterances=400", "data.test_utterances=100", "data.batch_size=4",
                         "trainer.max_epochs=25", "trainer.min_epochs=10",
                         "schedule.0.stop.patience=3",
                         "schedule.1.stop.patience=3"]},
}

# The paper's relative change of eval92 CER (Table 2; baselines 9.7, 10.4, 10.2; dropout 0.5 on
# baseline 3's initialisation 7.6; dropout 0.5 + top-down 6.3; baseline 1 + fix bottom 10.5).
PAPER = {
    "joint": "baselines 1-3: 9.7 / 10.4 / 10.2 % CER",
    "top-down": "-15% / -18% / -13% (vs each baseline)",
    "dropout": "-25% (dropout 0.5 vs baseline 3)",
    "dropout + top-down": "-38% vs baseline 3, -17% vs dropout",
    "fix bottom, retrain top": "+8% (worse; vs baseline 1)",
    "joint, 3x patience": "(not in the paper; Figure 1: longer joint training does not help)",
    "joint, equal epochs": "(not in the paper; as many epochs as top-down took in all)",
}
CONDITIONS = list(PAPER)


def run(spec: str, overrides: list[str], directory: Path) -> dict:
    from nndsl.run import train

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return train(str(ROOT / spec), overrides, run_dir=str(directory)).summary


def test_metrics(spec: str, overrides: list[str], state: Path) -> dict[str, float]:
    """Test-split metrics of the weights in `state` (a run's checkpoints/<run>/state.pt)."""
    import torch
    from lightning.pytorch import Trainer

    from nndsl.api import compile_spec
    from nndsl.backend.graph_module import GraphModule
    from nndsl.backend.losses import CompiledLoss
    from nndsl.run.session import RunContext, build_module
    from nndsl.run.train import load_data

    compiled = compile_spec(ROOT / spec, overrides).raise_for_errors()
    datamodule = load_data(compiled)
    network = GraphModule(compiled.graph, compiled.plan.tempering)
    network.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
    signature = compiled.signature
    loss = CompiledLoss(compiled.spec.loss, signature.target_kind, len(datamodule.splits.train),
                        compiled.plan.loss_terms)
    context = RunContext(compiled, network, datamodule, loss, state.parent)
    module = build_module(context, (), (), compiled.spec.optimizer, 1)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False)
    with contextlib.redirect_stdout(io.StringIO()):
        results = trainer.test(module, datamodule=datamodule, verbose=False)
    return {key: float(value) for key, value in results[0].items()}


def bottom_change(summary: dict) -> tuple[float | None, float | None]:
    """Σ|Δθ| of the bottom unit's first layer with parameters: joint run, first top-down attempt."""
    rows = summary["phases"]
    joint = rows[0]["parameter_change"]
    attempt = next((row for row in rows if row["attempt"] == 1), None)
    bottom = next(iter(joint), None)
    if bottom is None or attempt is None:
        return None, None
    return joint[bottom], attempt["parameter_change"].get(bottom)


RUNS = ("top-down", "dropout", "control", "longer", "budget")


def seed_runs(task: str, seed: int, quick: bool, root: Path,
              runs: tuple[str, ...] = RUNS) -> dict[str, float]:
    """The chosen runs for one seed: top-down (gives joint and top-down), dropout (dropout and
    dropout + top-down), control (fix bottom, retrain top), longer (joint with 3x the patience),
    budget (joint for the top-down run's total epochs, without early stopping; needs top-down)."""
    settings = TASKS[task]
    base = [f"seed={seed}", *(settings["quick"] if quick else [])]
    layer = settings.get("dropout_layer", 0)  # the BLSTMP block's position in network.layers
    dropout = [*base, f"network.layers.{layer}.with.dropout={settings['dropout']}"]
    # Finished runs are recorded beside their run directories, so an interrupted reproduction
    # (or one split over several processes, a seed each) continues where it stopped.
    record = root / f"{task}-seed{seed}{'-quick' if quick else ''}.json"
    done: dict[str, dict[str, float]] = json.loads(record.read_text()) if record.is_file() else {}
    results: dict[str, float] = {}

    def finished(name: str, values: dict[str, float]) -> None:
        results.update(values)
        # Read again: another process may have recorded other runs of this seed meanwhile.
        done.update(json.loads(record.read_text()) if record.is_file() else {})
        done[name] = values
        temporary = record.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(done, indent=1))
        temporary.replace(record)

    def error(summary: dict) -> float:
        return settings["error"](summary["test"][settings["metric"]])

    for name in runs:
        if name in done:
            results.update(done[name])
            print(f"  {task} seed {seed} {name}: recorded in {record.name}", flush=True)
    for name, overrides, plain, combined in (("top-down", base, "joint", "top-down"),
                                             ("dropout", dropout, "dropout", "dropout + top-down")):
        if name not in runs or name in done:
            continue
        directory = root / f"{task}-{name}-seed{seed}"
        summary = run(settings["spec"], overrides, directory)
        joint_state = directory / "checkpoints/joint/state.pt"
        metrics = test_metrics(settings["spec"], overrides, joint_state)
        values = {plain: settings["error"](metrics[settings["metric"]]),
                  combined: error(summary)}
        accepted = [row["cut"] for row in summary["phases"] if row["attempt"] and row["accepted"]]
        epochs = sum(row["epochs"] for row in summary["phases"])
        print(f"  {task} seed {seed} {name}: accepted cuts {accepted or 'none'} "
              f"({epochs} epochs in all); "
              f"{plain} {values[plain]:.4f}, {combined} {values[combined]:.4f}", flush=True)
        if name == "top-down":
            values["joint Σ|Δθ| bottom"], values["top-down Σ|Δθ| bottom"] = bottom_change(summary)
            values["top-down epochs"] = epochs
        finished(name, values)
    if "control" in runs and "control" not in done:
        summary = run(settings["control"], base, root / f"{task}-control-seed{seed}")
        finished("control", {"fix bottom, retrain top": error(summary)})
        print(f"  {task} seed {seed} control: fix bottom, retrain top "
              f"{results['fix bottom, retrain top']:.4f}", flush=True)
    if "longer" in runs and "longer" not in done:
        # Top-down trains for several runs' worth of epochs; joint training given 3x the patience
        # separates the method from the extra training.
        patience = 3 * (3 if quick else settings["patience"])
        overrides = [*base, f"schedule=[{{phase: joint, stop: {{monitor: valid/loss, "
                            f"patience: {patience}}}}}]",
                     f"trainer.max_epochs={3 * settings['max_epochs']}"]
        summary = run(settings["spec"], overrides, root / f"{task}-longer-seed{seed}")
        finished("longer", {"joint, 3x patience": error(summary)})
        print(f"  {task} seed {seed} longer: joint with patience {patience}, "
              f"{summary['phases'][0]['epochs']} "
              f"epochs: {results['joint, 3x patience']:.4f}", flush=True)
    if "budget" in runs and "budget" not in done and "top-down epochs" in results:
        # The equal-budget control: joint training for exactly the epochs top-down used in all
        # (joint phase and every attempt), keeping its best-validation weights as top-down does.
        epochs = int(results["top-down epochs"])
        overrides = [*base, f"schedule=[{{phase: joint, stop: {{monitor: valid/loss, "
                            f"max_epochs: {epochs}}}}}]",
                     f"trainer.max_epochs={epochs}", f"trainer.min_epochs={epochs}"]
        summary = run(settings["spec"], overrides, root / f"{task}-budget-seed{seed}")
        finished("budget", {"joint, equal epochs": error(summary)})
        print(f"  {task} seed {seed} budget: joint for {summary['phases'][0]['epochs']} epochs: "
              f"{results['joint, equal epochs']:.4f}", flush=True)
    return results


def describe(values: list[float], percent: bool = True) -> str:
    scale = 100 if percent else 1
    mean = statistics.mean(values) * scale
    spread = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {spread:.2f}" + (" %" if percent else "")


def report(task: str, results: list[dict[str, float]]) -> None:
    unit = TASKS[task]["unit"]
    print(f"\n{task}: test {unit} over {len(results)} seed(s) (mean ± std), "
          "relative change of the mean")
    print(f"  {'condition':<26}{'measured':>18}{'vs joint':>11}{'vs dropout':>12}   "
          "paper (WSJ eval92, Table 2)")
    joint = (statistics.mean(result["joint"] for result in results)
             if "joint" in results[0] else None)
    dropout = (statistics.mean(result["dropout"] for result in results)
               if "dropout" in results[0] else None)
    for condition in CONDITIONS:
        if condition not in results[0]:
            continue
        values = [result[condition] for result in results]
        mean = statistics.mean(values)
        against_joint = ("" if condition == "joint" or not joint
                         else f"{(mean - joint) / joint * 100:+.0f}%")
        against_dropout = (f"{(mean - dropout) / dropout * 100:+.0f}%"
                           if condition == "dropout + top-down" and dropout else "")
        print(f"  {condition:<26}{describe(values):>18}{against_joint:>11}{against_dropout:>12}   "
              f"{PAPER[condition]}")
    if joint and "top-down" in results[0]:
        top_down = statistics.mean(result["top-down"] for result in results)
        print(f"  ratio of mean test {unit}s top-down / joint: {top_down / joint:.3f}")
    for better, worse in (("top-down", "joint"), ("dropout + top-down", "dropout"),
                          ("top-down", "joint, 3x patience"), ("top-down", "joint, equal epochs")):
        if better in results[0] and worse in results[0]:
            wins = sum(result[better] < result[worse] for result in results)
            ties = sum(result[better] == result[worse] for result in results)
            print(f"  {better} below {worse} in {wins}/{len(results)} seeds ({ties} equal)")
    changes = [(result["joint Σ|Δθ| bottom"], result["top-down Σ|Δθ| bottom"]) for result in results
               if result.get("top-down Σ|Δθ| bottom") is not None]
    if changes:
        print(f"  bottom layer Σ|Δθ| (start of the run -> best epoch): "
              f"joint {describe([a for a, _ in changes], False)}, "
              f"first top-down attempt {describe([b for _, b in changes], False)} "
              "(paper, Table 1: larger below a frozen classifier)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["digits", "speech"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--quick", action="store_true", help="capped epochs, patience 3")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS),
                        help="which runs per seed (default: all)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (small models run best on one)")
    parser.add_argument("--keep",
                        help="keep the run directories here (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true",
                        help="digits, one seed, the top-down run only, 2 epochs: "
                             "checks that the script still runs")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.tasks, arguments.seeds, arguments.runs, arguments.keep = (["digits"], [1],
                                                                            ["top-down"], None)
        TASKS["digits"]["quick"] = ["trainer.max_epochs=2", "schedule.0.stop.patience=1",
                                    "schedule.1.stop.patience=1"]
        arguments.quick = True
    import torch

    from nndsl.run.train import _quiet_lightning

    torch.set_num_threads(arguments.threads)
    _quiet_lightning()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        root = (Path(arguments.keep) if arguments.keep
                else Path(stack.enter_context(tempfile.TemporaryDirectory())))
        root.mkdir(parents=True, exist_ok=True)
        print(f"top-down reproduction: tasks {arguments.tasks}, seeds {arguments.seeds}, "
              f"{'quick' if arguments.quick else 'full'} mode, {arguments.threads} torch thread(s)",
              flush=True)
        for task in arguments.tasks:
            results = [seed_runs(task, seed, arguments.quick, root, tuple(arguments.runs))
                       for seed in arguments.seeds]
            report(task, results)
    print(f"\n{time.perf_counter() - started:.0f} s in all", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
