"""Mutation check of nndsl's decision code: does the test suite notice when a decision is wrong?

Each mutation below is one small, realistic mistake (a flipped comparison, a dropped argument,
an off-by-one, a swapped order) in the code that decides: the plan's phases and runs, tempering
rates, the schedule's acceptance and re-initialisation, the ensemble's sMCL loss, the losses,
and the precedence of fragments and `--set` overrides. For each, the script copies the source
tree once into a scratch folder, applies the mutation there, runs only the test files that
guard that code, and records whether a test failed (killed) or all passed (survived). The
working tree is never modified.

Usage (from the repository root, with the project's virtual environment active):

    python tools/mutation_check.py            # every mutation, then the score
    python tools/mutation_check.py --list     # the mutations and their tests
    python tools/mutation_check.py --only better-flipped tempering-bias-fan-in

Exit status: 0 when every mutation was killed, 1 when some survived, 2 when a mutation no
longer applies (its text is not found exactly once: the code moved; update the mutation).
Not part of CI: a full check runs the relevant tests once per mutation (minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCHEDULE_TESTS = ("tests/run/test_schedule_decisions.py", "tests/run/test_plan_execution.py")
PHASE_TESTS = ("tests/plan/test_phase_runs.py", "tests/plan/test_cuts_and_phases.py",
               "tests/spec/test_selectors.py", "tests/golden/test_graph_golden.py")
TEMPERING_TESTS = ("tests/plan/test_tempering_plan.py", "tests/plan/test_tempering_rules.py",
                   "tests/plan/test_phase_rates.py")
ENSEMBLE_TESTS = ("tests/backend/test_ensemble_module_k.py",
                  "tests/backend/test_ensemble_losses.py")
LOSS_TESTS = ("tests/backend/test_metrics_losses.py",)
RESOLVE_TESTS = ("tests/resolve/test_resolve.py",)
INIT_TESTS = ("tests/plan/test_init_from.py", "tests/run/test_init_weights.py")
GRADUAL_TESTS = ("tests/plan/test_gradual_unfreeze.py",)


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    original: str  # must occur exactly once in `file`
    mutated: str
    tests: tuple[str, ...]


MUTATIONS = (
    # The schedule's acceptance rule and what a run does (run/schedule.py).
    Mutation("better-flipped", "nndsl/run/schedule.py",
             'return score < reference if mode == "min" else score > reference',
             'return score > reference if mode == "min" else score < reference', SCHEDULE_TESTS),
    Mutation("better-ties-accepted", "nndsl/run/schedule.py",
             'return score < reference if mode == "min" else score > reference',
             'return score <= reference if mode == "min" else score >= reference', SCHEDULE_TESTS),
    Mutation("better-no-reference-rejected", "nndsl/run/schedule.py",
             "    if reference is None:\n        return True",
             "    if reference is None:\n        return False", SCHEDULE_TESTS),
    Mutation("better-mode-ignored", "nndsl/run/schedule.py",
             'return score < reference if mode == "min" else score > reference',
             "return score < reference", SCHEDULE_TESTS),
    Mutation("attempt-reinitialises-nothing", "nndsl/run/schedule.py",
             "    if run.reinitialised:\n", "    if False:\n", SCHEDULE_TESTS),
    Mutation("reinit-seed-off-by-one", "nndsl/run/schedule.py",
             "reset_layers(run.reinitialised, run.seed)", "reset_layers(run.reinitialised, "
                                                          "run.seed + 1)",
             SCHEDULE_TESTS),
    Mutation("rejected-attempt-kept", "nndsl/run/schedule.py",
             "    if not accepted:\n        context.network.load_state_dict(start_state)",
             "    if False:\n        context.network.load_state_dict(start_state)", SCHEDULE_TESTS),
    Mutation("every-run-accepted", "nndsl/run/schedule.py",
             "accepted = True if accept is None else better(score, trial.baseline, mode)",
             "accepted = True",
             SCHEDULE_TESTS),
    Mutation("attempt-trains-the-phase-set", "nndsl/run/session.py",
             "build_module(context, run.trainable, phase.parameter_groups,",
             "build_module(context, phase.trainable, phase.parameter_groups,",
             SCHEDULE_TESTS),
    Mutation("baseline-not-moved-on-acceptance", "nndsl/run/schedule.py",
             '            baseline = row["best"]\n', "            pass\n", SCHEDULE_TESTS),
    Mutation("full-search-stops-like-greedy", "nndsl/run/schedule.py",
             'searching_from_top = search.search == "full"',
             'searching_from_top = search.search != "full"', SCHEDULE_TESTS),
    Mutation("greedy-search-goes-on-after-a-failure", "nndsl/run/schedule.py",
             "            break  # greedy", "            position += 1  # greedy", SCHEDULE_TESTS),
    Mutation("retrain-classifier-takes-the-first-cut", "nndsl/run/schedule.py",
             "next(run for run in phase.runs if run.cut == cut)", "phase.runs[0]", SCHEDULE_TESTS),
    Mutation("retrain-classifier-after-the-first-accepted", "nndsl/run/schedule.py",
             "return accepted[-1] if accepted else", "return accepted[0] if accepted else",
             SCHEDULE_TESTS),
    Mutation("classifier-from-not-loaded", "nndsl/run/schedule.py",
             "    if sets:\n        context.network.load_state_dict(sets[0], strict=False)",
             "    if False:\n        context.network.load_state_dict(sets[0], strict=False)",
             ("tests/run/test_top_down_features.py",)),
    # The plan's phases and runs (plan/phases.py).
    Mutation("attempt-labels-off-by-one", "nndsl/plan/phases.py",
             "enumerate(order, start=1)", "enumerate(order, start=0)", PHASE_TESTS),
    Mutation("planned-attempt-reinitialises-nothing", "nndsl/plan/phases.py",
             "by_name[attempt].extractor,\n                      by_name[attempt].extractor)",
             "by_name[attempt].extractor,\n                      schedule.layers.span(0, 0))",
             PHASE_TESTS),
    Mutation("run-frozen-set-empty", "nndsl/plan/phases.py",
             "frozen=trainable.complement(),", "frozen=trainable.order.span(0, 0),", PHASE_TESTS),
    Mutation("freeze-ignored-in-train-phase", "nndsl/plan/phases.py",
             'schedule.layers.of(picked["train"] - picked["freeze"])',
             'schedule.layers.of(picked["train"])', PHASE_TESTS),
    Mutation("first-cut-off-by-one", "nndsl/plan/phases.py",
             "if phase.first_cut in names else 0", "if phase.first_cut in names else 1",
             PHASE_TESTS),
    Mutation("last-cut-off-by-one", "nndsl/plan/phases.py",
             "if phase.last_cut in names else len(names) - 1",
             "if phase.last_cut in names else len(names) - 2", PHASE_TESTS),
    Mutation("cuts-tried-bottom-first", "nndsl/plan/phases.py",
             "key=lambda cut: len(cut.extractor), reverse=True)",
             "key=lambda cut: len(cut.extractor))", PHASE_TESTS),
    Mutation("repeated-attempts-kept", "nndsl/plan/phases.py",
             "if trained(cut.extractor) and (previous is None or not same(cut.extractor, "
             "previous)):",
             "if trained(cut.extractor):", PHASE_TESTS),
    Mutation("retrain-classifier-reinit-inverted", "nndsl/plan/phases.py",
             "by_name[candidate].classifier if phase.reinit else nothing)",
             "nothing if phase.reinit else by_name[candidate].classifier)", PHASE_TESTS),
    Mutation("accuracy-mode-inverted", "nndsl/plan/phases.py",
             'return "max" if monitor.endswith(("accuracy", "/f1_macro", "/f1_micro", "/r2")) else '
             '"min"',
             'return "min" if monitor.endswith(("accuracy", "/f1_macro", "/f1_micro", "/r2")) else '
             '"max"',
             PHASE_TESTS),
    Mutation("top-down-accepts-on-the-stop-monitor", "nndsl/plan/phases.py",
             "accept=Acceptance(phase.monitor, monitor_mode)",
             "accept=Acceptance(stop.monitor, stop.mode)", PHASE_TESTS),
    Mutation("retrain-classifier-not-a-trial", "nndsl/plan/phases.py",
             "runs=runs, accept=Acceptance(stop.monitor, stop.mode)", "runs=runs, accept=None",
             PHASE_TESTS),
    # Cuts and selectors (plan/regions.py).
    Mutation("unit-cuts-numbered-from-zero", "nndsl/plan/regions.py",
             "enumerate(graph.units[:-1], start=1)", "enumerate(graph.units[:-1], start=0)",
             PHASE_TESTS),
    Mutation("cut-after-takes-one-unit-more", "nndsl/plan/regions.py",
             "graph.units[: unit_index[cut.after] + 1]", "graph.units[: unit_index[cut.after] + 2]",
             PHASE_TESTS),
    Mutation("extractor-and-classifier-selectors-swapped", "nndsl/plan/regions.py",
             'cut.extractor if selector.kind == "extractor" else cut.classifier',
             'cut.classifier if selector.kind == "extractor" else cut.extractor', PHASE_TESTS),
    # Freezing in the training module (backend/lightning_module.py).
    Mutation("frozen-layers-get-gradients", "nndsl/backend/lightning_module.py",
             "parameter.requires_grad_(name in self.trainable)", "parameter.requires_grad_(True)",
             SCHEDULE_TESTS),
    # Tempering (plan/rates.py, plan/tempering.py).
    Mutation("tempering-bias-fan-in", "nndsl/plan/rates.py",
             "fan_in=int(node.input_shapes[0][-1]) + has_bias",
             "fan_in=int(node.input_shapes[0][-1]) + 1", TEMPERING_TESTS),
    Mutation("tempering-bias-flag-dropped", "nndsl/plan/rates.py",
             "fan_in=int(node.input_shapes[0][-1]) + has_bias, has_bias=has_bias,",
             "fan_in=int(node.input_shapes[0][-1]) + has_bias,", TEMPERING_TESTS),
    Mutation("shunted-bias-rate-times-global", "nndsl/plan/rates.py",
             "lr = multiplier if shunted_biases else global_lr * multiplier",
             "lr = global_lr * multiplier", TEMPERING_TESTS),
    Mutation("epsilon-always-counts-a-bias", "nndsl/plan/tempering.py",
             "return power + node.has_bias", "return power + 1", TEMPERING_TESTS),
    Mutation("attenuation-without-square-root", "nndsl/plan/tempering.py",
             "slope_maximum * math.sqrt(fan_out))", "slope_maximum * fan_out)", TEMPERING_TESTS),
    Mutation("tempering-multiplier-replaces", "nndsl/plan/rates.py",
             "multipliers[name] *= multiplier.lr", "multipliers[name] = multiplier.lr",
             TEMPERING_TESTS),
    # The ensemble's oracle loss (backend/ensemble/module.py, backend/ensemble/losses.py).
    Mutation("smcl-ignores-k", "nndsl/backend/ensemble/module.py",
             "oracle_loss(losses, k=self.plan.k)", "oracle_loss(losses)", ENSEMBLE_TESTS),
    Mutation("smcl-best-members-off-by-one", "nndsl/backend/ensemble/losses.py",
             "torch.sort(losses, dim=0, stable=True).indices[:k]",
             "torch.sort(losses, dim=0, stable=True).indices[1:k + 1]", ENSEMBLE_TESTS),
    # Losses (backend/losses.py).
    Mutation("label-smoothing-dropped", "nndsl/backend/losses.py",
             "label_smoothing=self.loss.label_smoothing,\n", "\n", LOSS_TESTS),
    Mutation("zero-error-radius-ignored", "nndsl/backend/losses.py",
             "self.loss.zero_error_radius, reduction)", "0.0, reduction)",
             LOSS_TESTS),
    Mutation("kl-term-not-scaled", "nndsl/backend/losses.py",
             "return data + total_kl(model) / self.training_examples, data",
             "return data + total_kl(model), data", LOSS_TESTS),
    # Precedence of fragments and --set (resolve/).
    Mutation("set-before-fragments", "nndsl/resolve/__init__.py",
             "    if base is not None:\n        root = merge_under(base, root)  # type: "
             "ignore[assignment]\n    parsed = parse_overrides(overrides, diagnostics)\n"
             "    root = apply_overrides(root, parsed, diagnostics)\n",
             "    parsed = parse_overrides(overrides, diagnostics)\n"
             "    root = apply_overrides(root, parsed, diagnostics)\n"
             "    if base is not None:\n        root = merge_under(base, root)  # type: "
             "ignore[assignment]\n",
             RESOLVE_TESTS),
    Mutation("set-applied-in-reverse", "nndsl/resolve/overrides.py",
             "    for override in overrides:\n", "    for override in reversed(overrides):\n",
             RESOLVE_TESTS),
    Mutation("earlier-fragment-wins", "nndsl/resolve/__init__.py",
             "base = layer if base is None else merge_under(base, layer)",
             "base = layer if base is None else merge_under(layer, base)", RESOLVE_TESTS),
    Mutation("fragments-not-merged-deeply", "nndsl/resolve/merge.py",
             "entries[key] = merge_under(entries[key], value) if key in entries else value",
             "entries[key] = value", RESOLVE_TESTS),
    # init_from: which tensors load where (plan/init_from.py), carried out (run/init_weights.py).
    Mutation("init-rename-ignored", "nndsl/plan/init_from.py",
             "mapping[name] = old + name[len(new):]", "mapping[name] = name", INIT_TESTS),
    Mutation("init-best-of-a-rejected-run", "nndsl/plan/init_from.py",
             'if record.get("row") and record.get("accepted", True)]', 'if record.get("row")]',
             INIT_TESTS),
    Mutation("init-loaded-into-the-source-name", "nndsl/run/init_weights.py",
             "target = layer_prefix(layer.layer) + tensor",
             "target = layer_prefix(layer.source) + tensor", INIT_TESTS),
    # gradual_unfreeze's stages (plan/gradual.py).
    Mutation("gradual-bottom-up", "nndsl/plan/gradual.py",
             "        for unit in reversed(graph.units):\n", "        for unit in graph.units:\n",
             GRADUAL_TESTS),
    Mutation("gradual-multiplier-ignored", "nndsl/plan/gradual.py",
             'update={"lr": optimizer.lr * multiplier}', 'update={"lr": optimizer.lr}',
             GRADUAL_TESTS),
)


def _copy_tree(destination: Path) -> None:
    """The package, tests and the files they read, without the virtual environment or git."""
    for name in ("nndsl", "tests", "stdlib", "specs", "pyproject.toml", "cli.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, destination / name)


def _run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    """'killed' (a test failed or errored), 'survived' (all passed) or 'timeout' (counted
    killed)."""
    # `python -m pytest` puts the working directory first on sys.path, so the mutated copy's
    # `nndsl` is imported, not the editable install's.
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m",
               "slow or not slow", *tests]
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    try:
        result = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=timeout,
                                env=environment)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    return ("survived" if result.returncode == 0 else "killed"), time.monotonic() - started


def _imports_the_copy(tree: Path) -> bool:
    probe = subprocess.run([sys.executable, "-c", "import nndsl; print(nndsl.__file__)"], cwd=tree,
                           capture_output=True, text=True)
    return probe.stdout.strip().startswith(str(tree))


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutations only")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds per mutation (a timeout counts as killed)")
    options = parser.parse_args(arguments)
    chosen = [mutation for mutation in MUTATIONS if not options.only
              or mutation.name in options.only]
    if options.only and len(chosen) != len(set(options.only)):
        unknown = set(options.only) - {mutation.name for mutation in MUTATIONS}
        print(f"unknown mutation(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if options.list:
        for mutation in chosen:
            print(f"{mutation.name:46} {mutation.file:36} {' '.join(mutation.tests)}")
        return 0
    stale = [mutation.name for mutation in chosen
             if (ROOT / mutation.file).read_text().count(mutation.original) != 1]
    if stale:
        print(f"mutation(s) no longer apply (text not found exactly once): {', '.join(stale)}",
              file=sys.stderr)
        return 2
    outcomes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="nndsl-mutation-") as folder:
        tree = Path(folder)
        _copy_tree(tree)
        if not _imports_the_copy(tree):
            print("the tests would import the installed nndsl, not the mutated copy",
                  file=sys.stderr)
            return 2
        for mutation in chosen:
            path = tree / mutation.file
            original = path.read_text()
            path.write_text(original.replace(mutation.original, mutation.mutated))
            try:
                outcome, seconds = _run_tests(tree, mutation.tests, options.timeout)
            finally:
                path.write_text(original)
            outcomes[mutation.name] = outcome
            print(f"{outcome:9} {seconds:6.1f}s  {mutation.name}", flush=True)
    killed = sum(outcome != "survived" for outcome in outcomes.values())
    share = 100 * killed / len(outcomes)
    print(f"\nmutation score: {killed}/{len(outcomes)} killed ({share:.0f}%)")
    survivors = [name for name, outcome in outcomes.items() if outcome == "survived"]
    if survivors:
        print("survived: " + ", ".join(survivors))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
