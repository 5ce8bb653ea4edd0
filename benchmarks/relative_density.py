"""Relative density nets vs Alphanet, MoGnet, CDN and CDN-1 at matched parameter counts, over
train/test splits (Brown & Hinton, NIPS 2001, Fig. 3), on nndsl's synthetic speakers.

Trains the five shipped specs (specs/rdn_speakers.yaml, rdn_alphanet.yaml, rdn_mognet.yaml,
rdn_cdn.yaml, rdn_cdn1.yaml) through nndsl (the path `nndsl train` takes), for each number M of
4-state HMMs in the RDN. The controls' sizes are chosen here so that their parameter counts, read
from the compiled graphs, come nearest the RDN's (the MoGnet takes the Alphanet's component count
and so has fewer parameters, as in the paper). Each split changes the train/test split seed and
the initialisation seed together. Prints test accuracy mean ± s.d. per network and the paired
t-test p-value of the RDN against each control (the paper: RDN > Alphanet at p < 0.01 in all four
settings; MoGnet ≈ Alphanet; CDN and CDN-1 much worse).

    python benchmarks/relative_density.py                 # M = 12 16 20 24, 10 splits
    python benchmarks/relative_density.py --models 12 --splits 3
    python benchmarks/relative_density.py --smoke         # seconds: tiny data, 5 iterations
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path

SPECS = Path(__file__).resolve().parents[1] / "specs"
NETWORKS = {"RDN": "rdn_speakers.yaml", "Alphanet": "rdn_alphanet.yaml",
            "MoGnet": "rdn_mognet.yaml", "CDN": "rdn_cdn.yaml", "CDN-1": "rdn_cdn1.yaml"}


def parameter_count(network: str, overrides: list[str]) -> int:
    """The trainable parameters of a spec under overrides, from the compiled graph."""
    from nndsl.api import compile_spec

    compiled = compile_spec(SPECS / NETWORKS[network], overrides).raise_for_errors()
    return sum(node.parameter_count for node in compiled.graph.nodes)


def matched_sizes(models: int, base: dict[str, list[str]]) -> dict[str, list[str]]:
    """Overrides per network for an RDN of `models` 4-state HMMs, the others matched to it
    (`base`: each network's overrides that come first, such as the data's)."""
    sizes = {"RDN": [f"network.layers.0.models={models}"]}
    target = parameter_count("RDN", base["RDN"] + sizes["RDN"])

    def nearest(network: str, make, candidates) -> list[str]:
        return min((make(value) for value in candidates), key=lambda overrides: abs(
            parameter_count(network, base[network] + overrides) - target))

    sizes["Alphanet"] = nearest("Alphanet", lambda states: [f"network.layers.0.states={states}"],
                                range(1, 30))
    sizes["MoGnet"] = list(sizes["Alphanet"])
    sizes["CDN"] = nearest("CDN", lambda hidden: [f"network.layers.0.models={models}",
                                                  f"network.layers.1.units={hidden}"],
                           range(1, 200))
    sizes["CDN-1"] = nearest("CDN-1", lambda states: [f"network.layers.0.models={models}",
                                                      f"network.layers.0.states={states}"],
                             range(1, 30))
    return sizes


def test_accuracy(network: str, overrides: list[str], directory: Path) -> float:
    from nndsl.run import train

    result = train(str(SPECS / NETWORKS[network]), overrides, run_dir=str(directory),
                   progress_bar=False)
    return result.summary["test"]["test/accuracy"]


def paired_p_value(first: list[float], second: list[float]) -> float | None:
    """Two-sided paired t-test p-value (scipy.stats.ttest_rel), None when undefined."""
    from scipy.stats import ttest_rel

    if len(first) < 2 or all(a == b for a, b in zip(first, second)):
        return None
    return float(ttest_rel(first, second).pvalue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[12, 16, 20, 24],
                        help="RDN sizes M")
    parser.add_argument("--splits", type=int, default=10, help="train/test splits")
    parser.add_argument("--iterations", type=int, default=90, help="L-BFGS iteration cap")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny data, M = 4, 2 splits, 5 iterations")
    arguments = parser.parse_args()
    base: dict[str, list[str]] = {network: [] for network in NETWORKS}
    if arguments.smoke:
        arguments.models, arguments.splits, arguments.iterations = [4], 2, 5
        data = ["data.speakers=4", "data.sequences_per_speaker=6", "data.min_length=10",
                "data.max_length=20"]
        base = {network: data + _smoke_outputs(network) for network in NETWORKS}
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")  # Lightning's notes on the absent validation loop
    import torch

    # One thread: the forward algorithm is a loop of small products, which extra threads only
    # slow down (many times over on a loaded machine).
    torch.set_num_threads(1)
    counts: dict[int, dict[str, int]] = {}
    results: dict[int, dict[str, list[float]]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for models in arguments.models:
            sizes = matched_sizes(models, base)
            counts[models] = {network: parameter_count(network, base[network] + sizes[network])
                              for network in NETWORKS}
            results[models] = {network: [] for network in NETWORKS}
            for split in range(1, arguments.splits + 1):
                for network in NETWORKS:
                    overrides = base[network] + sizes[network] + [
                        f"seed={split}", f"data.seed={split}",
                        f"optimizer.max_iter={arguments.iterations}"]
                    run = Path(directory) / f"{network}-{models}-{split}"
                    results[models][network].append(test_accuracy(network, overrides, run))
    elapsed = time.perf_counter() - started
    _print_table(arguments, counts, results, elapsed)


def _smoke_outputs(network: str) -> list[str]:
    """The smoke run's 4 speakers: output widths (and the Alphanet's one model per class)."""
    if network in ("Alphanet", "MoGnet"):
        return ["network.layers.0.models=4"]
    return [f"network.layers.{ {'RDN': 2, 'CDN': 2, 'CDN-1': 1}[network]}.units=4"]


def _print_table(arguments, counts, results, elapsed: float) -> None:
    print(f"\ntest accuracy on synthetic speakers, mean ± s.d. over {arguments.splits} train/test "
          f"splits, L-BFGS capped at {arguments.iterations} iterations ({elapsed:.0f} s)")
    header = f"{'M':>3}  " + "  ".join(f"{network:>17}" for network in NETWORKS)
    print(header)
    for models, by_network in results.items():
        cells = []
        for network, accuracies in by_network.items():
            spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
            cells.append(f"{statistics.mean(accuracies):.3f} ± {spread:.3f}")
        print(f"{models:>3}  " + "  ".join(f"{cell:>17}" for cell in cells))
    print("\nparameters (from the compiled graphs)")
    print(header)
    for models, by_network in counts.items():
        print(f"{models:>3}  " + "  ".join(f"{by_network[network]:>17,}" for network in NETWORKS))
    print("\npaired t-test p-value, RDN vs each control (two-sided; sign: + when the RDN's mean "
          "is higher)")
    print(f"{'M':>3}  " + "  ".join(f"{network:>17}" for network in list(NETWORKS)[1:]))
    for models, by_network in results.items():
        cells = []
        for network in list(NETWORKS)[1:]:
            p_value = paired_p_value(by_network["RDN"], by_network[network])
            higher = statistics.mean(by_network["RDN"]) > statistics.mean(by_network[network])
            sign = "+" if higher else "-"
            cells.append("n/a" if p_value is None else f"{sign} {p_value:.2g}")
        print(f"{models:>3}  " + "  ".join(f"{cell:>17}" for cell in cells))
    # The paper's claim in one line per M: RDN above the Alphanet (p < 0.01 in every setting).
    for models, by_network in results.items():
        ratio = statistics.mean(by_network["RDN"]) / statistics.mean(by_network["Alphanet"])
        print(f"M = {models}: accuracy ratio RDN / Alphanet {ratio:.3f} "
              f"(paper: above 1 in every setting)")


if __name__ == "__main__":
    main()
