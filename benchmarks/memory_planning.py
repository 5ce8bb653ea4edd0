"""Planning time of the recompute planner, fast BPTT-MSM programme against the previous one.

For sequence lengths T and budgets (fractions of plain BPTT's T internal states, converted to
hidden-state units as ``nndsl.plan.memory.budget`` does, for an LSTM with alpha = 5 as in
benchmarks/memory_bptt.py) and every policy, the time of ``plan_recompute`` from a cold start
(its schedule cache and the shared MSM tables cleared), then, in the same run, the time of the
same planning with the previous full-scan programme (tests/oracles/recompute_reference.py) in
place of the fast one, and their ratio. Only ``optimal`` budgets the lower bound does not
certify run a table; the other rows time identical code on both sides. "warm" is ``optimal``
again with the shared table already grown (another layer or budget planned before).

Run: ``python benchmarks/memory_planning.py`` (``--no-reference`` skips the previous programme,
which takes up to a minute per budget at T = 2000).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

from nndsl.plan.memory import recompute
from nndsl.plan.memory.recompute import plan_recompute, smallest_feasible_units, units_for_budget
from nndsl.plan.memory.recompute_mixed import clear_mixed_tables

# The oracle lives with the tests (tests/oracles/), outside the shipped package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracles.recompute_reference import ReferenceMixedCosts

HIDDEN_BYTES, INTERNAL_BYTES = 131_072, 589_824  # LSTM, batch 64, hidden 256, float32: alpha 5
POLICIES = ("optimal", "hidden", "internal", "sqrt", "none")


def timed_plan(length: int, units: int, policy: str, alpha: int, *, cold: bool = True) -> tuple[float, int]:
    recompute._plan.cache_clear()
    if cold:
        clear_mixed_tables()
    start = time.perf_counter()
    schedule = plan_recompute(length, units, policy, alpha)  # type: ignore[arg-type]
    return time.perf_counter() - start, schedule.predicted_forward_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--budgets", type=float, nargs="+", default=[1, 2, 5, 10, 25, 50],
                        help="percentages of plain BPTT")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds: checks that the script still runs")
    args = parser.parse_args()
    if args.smoke:
        args.lengths, args.budgets = [60], [10, 50]
    print(f"{'T':>5} {'budget':>6} {'units':>5} {'policy':>8} {'C':>6} {'table':>5} {'new s':>8} "
          f"{'warm s':>7} {'previous s':>10} {'ratio':>6}")
    slowest: dict[int, float] = {}
    for length in args.lengths:
        plain = length * INTERNAL_BYTES
        for percent in args.budgets:
            units, alpha = units_for_budget(int(plain * percent / 100), HIDDEN_BYTES, INTERNAL_BYTES)
            for policy in POLICIES:
                label = f"{length:>5} {percent:>5g}% {units:>5} {policy:>8}"
                if units < smallest_feasible_units(length, policy, alpha):  # type: ignore[arg-type]
                    print(f"{label}  infeasible at this budget")
                    continue
                seconds, cost = timed_plan(length, units, policy, alpha)
                slowest[length] = max(slowest.get(length, 0.0), seconds)
                table = "-"
                warm = ""
                if policy == "optimal":
                    mixed = recompute.MixedCosts(length, units, alpha, alpha)
                    table = "yes" if mixed.certified is None else "no"
                    warm = f"{timed_plan(length, units, policy, alpha, cold=False)[0]:7.3f}"
                previous = ratio = ""
                if not args.no_reference:
                    with mock.patch.object(recompute, "MixedCosts", ReferenceMixedCosts):
                        reference_seconds, reference_cost = timed_plan(length, units, policy, alpha)
                    if reference_cost != cost:
                        raise SystemExit(f"costs differ: {label}: {cost} vs {reference_cost}")
                    previous = f"{reference_seconds:10.3f}"
                    ratio = f"{reference_seconds / seconds:6.1f}"
                print(f"{label} {cost:>6} {table:>5} {seconds:8.3f} {warm:>7} {previous:>10} {ratio:>6}",
                      flush=True)
    for length, seconds in slowest.items():
        print(f"T = {length}: slowest cold planning {seconds:.3f} s")


if __name__ == "__main__":
    main()
