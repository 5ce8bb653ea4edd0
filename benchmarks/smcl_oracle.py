"""Oracle error of sMCL vs independent vs bagging ensembles for M = 1..5, mean ± std over seeds.

Trains specs/ensemble_smcl_digits.yaml through nndsl (the same path as `nndsl train`) with the
ensemble method, size and seed overridden, and prints the test oracle error (an example counts as
wrong only if every member is wrong) side by side. The paper (Lee et al. 2016, Fig. 4a) reports
sMCL's oracle accuracy clearly above independent ensembles at larger M.

    python benchmarks/smcl_oracle.py [--members 1 2 3 4 5] [--seeds 3] [--epochs 40]
        [--results smcl.json]

With --results each finished training run's oracle error is appended to that JSON file as soon as
it is known, and runs already there are read back instead of trained again, so a stopped
measurement resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

SPEC = Path(__file__).resolve().parents[1] / "specs" / "ensemble_smcl_digits.yaml"
METHODS = ("smcl", "independent", "bagging")


def oracle_error(method: str, members: int, seed: int, epochs: int, directory: Path) -> float:
    from nndsl.run import train

    overrides = [f"ensemble.method={method}", f"ensemble.members={members}", f"seed={seed}",
                 f"schedule.0.stop.max_epochs={epochs}", "trainer.logger=csv"]
    result = train(str(SPEC), overrides, run_dir=str(directory / f"{method}-{members}-{seed}"),
                   progress_bar=False)
    return 1.0 - result.summary["test"]["test/oracle_accuracy"]


def load_results(path: Path | None) -> dict[str, float]:
    """The oracle errors already measured, keyed "method-members-seed-epochs" ({} if no file)."""
    if path is None or not path.exists():
        return {}
    return json.loads(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, a few seconds: checks that the script still runs")
    parser.add_argument("--results", type=Path, default=None,
                        help="JSON file of finished runs: read to resume, written after each run")
    arguments = parser.parse_args()
    methods = METHODS
    if arguments.smoke:  # bagging left out: each training run costs seconds of Lightning set-up
        arguments.members, arguments.seeds, arguments.epochs, methods = ([2], 1, 1,
                                                                         ("smcl", "independent"))
    import logging

    logging.disable(logging.WARNING)
    rows = []
    means: dict[tuple[int, str], float] = {}
    finished = load_results(arguments.results)
    with tempfile.TemporaryDirectory() as directory:
        for members in arguments.members:
            cells = []
            for method in methods:
                errors = []
                for seed in range(1, arguments.seeds + 1):
                    key = f"{method}-{members}-{seed}-{arguments.epochs}"
                    if key not in finished:
                        finished[key] = oracle_error(method, members, seed, arguments.epochs,
                                                     Path(directory))
                        if arguments.results is not None:
                            arguments.results.write_text(json.dumps(finished, indent=1))
                    errors.append(finished[key])
                spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
                means[members, method] = statistics.mean(errors)
                cells.append(f"{100 * statistics.mean(errors):6.2f} ± {100 * spread:4.2f}")
            rows.append((members, cells))
    print(f"\ntest oracle error (%) on digits, mean ± std over {arguments.seeds} seeds, "
          f"{arguments.epochs} epochs max")
    print(f"{'M':>3}  " + "  ".join(f"{method:>15}" for method in methods))
    for members, cells in rows:
        print(f"{members:>3}  " + "  ".join(f"{cell:>15}" for cell in cells))
    largest = max(arguments.members)
    independent = means[largest, "independent"]
    ratio = (f"{means[largest, 'smcl'] / independent:.2f}" if independent
             else "undefined (independent error 0)")
    print(f"ratio of oracle errors sMCL / independent at M = {largest}: {ratio}")


if __name__ == "__main__":
    main()
