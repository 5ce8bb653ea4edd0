"""Benchmark: Kingma, Salimans & Welling (NIPS 2015): Table 1, speed and Figure 1a on digits.

Run: `python benchmarks/variational_dropout.py` (defaults below) or `--smoke` (tiny, seconds).

(1) Table 1: a 64-H-H-H-10 ReLU network of nndsl's `VariationalDropoutLinear` (type B, one α per
weight, initial rates 0.2 input / 0.5 hidden) is trained with the local reparameterisation (the
layer's own forward) for an early and a late number of epochs. At each point the same θ, α are
used by four estimators of the data term's gradient on a minibatch of M examples: local
reparameterisation (b = γ + √δ ζ), one weight sample per datapoint, one weight sample per
minibatch, and no noise. The two weight-noise estimators are written here (the layer offers only
the local one): w = θ + √α θ ε. The printed variance is the element-wise variance over R
independent draws (minibatch and noise), averaged over the weights θ of the bottom and the top
layer. The paper's loss is a sum over N examples; ours a mean, so only the ordering and the
ratios compare, not the magnitudes.

(2) Speed: seconds per training epoch with the local estimator vs one weight sample per datapoint.

(3) Figure 1a: test error of binary dropout, Gaussian dropout A / B (fixed α) and variational
dropout A / B / A2 (learned α; A2 = KL ÷ 3) for a small and a large network, each trained with
Adam for a fixed number of epochs and evaluated at the epoch with the best validation error (early
stopping), mean over seeds. All models are built from nndsl's backend modules in a compact torch
loop (this measures the layers, not the pipeline).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as functional
from torch import Tensor, nn

from nndsl.backend.modules.variational_dropout import (
    VariationalDropout,
    VariationalDropoutLinear,
    total_kl,
)

ESTIMATORS = ("local", "per datapoint", "per minibatch", "no noise")
# Paper Table 1 (top@10, top@100, bottom@10, bottom@100 epochs), MNIST, M = 1000.
PAPER_TABLE_1 = {"local": (7.8e3, 1.2e3, 1.9e2, 1.1e2),
                 "per datapoint": (1.4e4, 2.6e3, 4.3e2, 2.5e2),
                 "per minibatch": (4.9e4, 4.3e3, 8.5e2, 3.3e2),
                 "no noise": (2.8e3, 5.9e1, 1.3e2, 9.0e0)}
METHODS = ("binary", "gaussian A", "gaussian B", "variational A", "variational B", "variational A2")


def digits_splits(seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    """Digits scaled to [0, 1], split 1197 train / 300 validation / 300 test by a seeded shuffle."""
    from sklearn.datasets import load_digits

    data = load_digits()
    inputs = torch.tensor(data.data, dtype=torch.float32) / 16.0  # (1797, 64)
    targets = torch.tensor(data.target, dtype=torch.int64)  # (1797,)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    parts = {"train": order[:1197], "validation": order[1197:1497], "test": order[1497:]}
    return {name: (inputs[index], targets[index]) for name, index in parts.items()}


def variational_network(hidden: int) -> nn.ModuleList:
    """Four type-B `VariationalDropoutLinear` layers 64-H-H-H-10 (ReLU between them)."""
    widths = (64, hidden, hidden, hidden, 10)
    return nn.ModuleList(
        VariationalDropoutLinear(widths[i], widths[i + 1], initial_rate=0.2 if i == 0 else 0.5)
        for i in range(4))


def noisy_linear(layer: VariationalDropoutLinear, inputs: Tensor, estimator: str) -> Tensor:
    """The layer's pre-activations `(M, out)` under one gradient estimator, same θ and α."""
    if estimator == "local":
        return layer(inputs)  # the layer's own local reparameterisation (training mode)
    if estimator == "no noise":
        return functional.linear(inputs, layer.weight, layer.bias)
    scale = layer.alpha().sqrt() * layer.weight  # (out, in) √α θ
    if estimator == "per minibatch":
        weight = layer.weight + scale * torch.randn_like(layer.weight)  # one w for the batch
        return functional.linear(inputs, weight, layer.bias)
    noise = torch.randn(inputs.shape[0], *layer.weight.shape)  # (M, out, in): one w per example
    weights = layer.weight + scale * noise  # (M, out, in)
    return torch.einsum("moi,mi->mo", weights, inputs) + layer.bias  # (M, out)


def forward(layers: nn.ModuleList, inputs: Tensor, estimator: str) -> Tensor:
    """Logits `(M, 10)` of the ReLU network under `estimator`."""
    hidden = inputs
    for index, layer in enumerate(layers):
        hidden = noisy_linear(layer, hidden, estimator)
        if index < len(layers) - 1:
            hidden = functional.relu(hidden)
    return hidden


def train_variational(layers: nn.ModuleList, data: tuple[Tensor, Tensor], epochs: int,
                      estimator: str, batch: int, generator: torch.Generator) -> float:
    """Trains with Adam on mean NLL + KL / N; returns the mean seconds per epoch."""
    inputs, targets = data
    optimizer = torch.optim.Adam(layers.parameters(), lr=1e-3)
    layers.train()
    start = time.perf_counter()
    for _ in range(epochs):
        for index in torch.randperm(len(targets), generator=generator).split(batch):
            logits = forward(layers, inputs[index], estimator)
            loss = functional.cross_entropy(logits, targets[index])
            loss = loss + total_kl(layers) / len(targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return (time.perf_counter() - start) / max(epochs, 1)


def gradient_variance(layers: nn.ModuleList, data: tuple[Tensor, Tensor], estimator: str,
                      batch: int, draws: int, generator: torch.Generator) -> tuple[float, float]:
    """Mean over weights of the variance over `draws` minibatch gradients: (top, bottom) layer."""
    inputs, targets = data
    layers.train()
    top, bottom = [], []
    for _ in range(draws):
        index = torch.randperm(len(targets), generator=generator)[:batch]
        loss = functional.cross_entropy(forward(layers, inputs[index], estimator), targets[index])
        top_gradient, bottom_gradient = torch.autograd.grad(
            loss, [layers[-1].weight, layers[0].weight])
        top.append(top_gradient)
        bottom.append(bottom_gradient)
    return (torch.stack(top).var(dim=0).mean().item(),
            torch.stack(bottom).var(dim=0).mean().item())


def test_error(model: nn.Module, data: tuple[Tensor, Tensor]) -> float:
    model.eval()
    with torch.no_grad():
        return (model(data[0]).argmax(-1) != data[1]).float().mean().item()


def table_1(arguments: argparse.Namespace) -> None:
    torch.manual_seed(0)
    splits = digits_splits(0)
    generator = torch.Generator().manual_seed(0)
    layers = variational_network(arguments.hidden)
    results: dict[str, list[float]] = {name: [0.0] * 4 for name in ESTIMATORS}
    trained = 0
    for column, epochs in enumerate((arguments.early, arguments.late)):
        train_variational(layers, splits["train"], epochs - trained, "local", arguments.batch,
                          generator)
        trained = epochs
        error = test_error(_Evaluator(layers), splits["test"])  # mean weights
        print(f"after {epochs} epochs (local reparameterisation): test error {100 * error:.1f}%")
        for name in ESTIMATORS:
            top, bottom = gradient_variance(layers, splits["train"], name, arguments.batch,
                                            arguments.draws, generator)
            results[name][column], results[name][2 + column] = top, bottom
    early, late = arguments.early, arguments.late
    print(f"\nTable 1 on digits: mean variance of the minibatch gradient (M = {arguments.batch}, "
          f"{arguments.draws} draws), 64-{arguments.hidden}x3-10 ReLU, type B per-weight α")
    header = (f"{'estimator':<15}" + "".join(f"{label:>11}" for label in (
        f"top@{early}", f"top@{late}", f"bot@{early}", f"bot@{late}")) + "   ratio to local"
        + "      paper (top@10, top@100, bot@10, bot@100; ratio)")
    print(header)
    for name in ESTIMATORS:
        ours = results[name]
        ratios = [ours[i] / results["local"][i] for i in range(4)]
        paper = PAPER_TABLE_1[name]
        paper_ratios = [paper[i] / PAPER_TABLE_1["local"][i] for i in range(4)]
        print(f"{name:<15}" + "".join(f"{value:11.3g}" for value in ours) + "   "
              + " ".join(f"{ratio:4.2f}" for ratio in ratios) + "   "
              + " ".join(f"{value:7.2g}" for value in paper) + "; "
              + " ".join(f"{ratio:4.2f}" for ratio in paper_ratios))
    order_held = all(results["local"][i] < results["per datapoint"][i] < results["per minibatch"][i]
                     for i in range(4))
    print(f"ordering local < per datapoint < per minibatch in all four columns: {order_held}")


class _Evaluator(nn.Module):
    """The mean network (no noise) as a module, for `test_error`."""

    def __init__(self, layers: nn.ModuleList) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, inputs: Tensor) -> Tensor:
        return forward(self.layers, inputs, "no noise")


def speed(arguments: argparse.Namespace) -> None:
    splits = digits_splits(0)
    seconds = {}
    for estimator in ("local", "per datapoint"):
        torch.manual_seed(0)
        layers = variational_network(arguments.hidden)
        seconds[estimator] = train_variational(layers, splits["train"], arguments.speed_epochs,
                                               estimator, arguments.batch, torch.Generator())
    print(f"\nspeed (64-{arguments.hidden}x3-10, batch {arguments.batch}, "
          f"{arguments.speed_epochs} epochs): local {seconds['local']:.3f} s/epoch, per datapoint "
          f"{seconds['per datapoint']:.3f} s/epoch, ratio "
          f"{seconds['per datapoint'] / seconds['local']:.1f}x (paper, GPU, MNIST: 1635 / 7.4 = "
          f"221x)")


def classifier(method: str, hidden: int) -> nn.Module:
    """64-H-H-H-10 ReLU network regularised by `method` (rates 0.2 input, 0.5 hidden)."""
    widths = (64, hidden, hidden, hidden, 10)
    modules: list[nn.Module] = []
    for index in range(4):
        rate = 0.2 if index == 0 else 0.5
        if method == "binary":
            modules += [nn.Dropout(rate), nn.Linear(widths[index], widths[index + 1])]
        elif method in ("gaussian A", "variational A", "variational A2"):
            noise = VariationalDropout(widths[index], initial_rate=rate, granularity="neuron")
            noise.log_alpha.requires_grad_(method != "gaussian A")
            modules += [noise, nn.Linear(widths[index], widths[index + 1])]
        else:
            layer = VariationalDropoutLinear(widths[index], widths[index + 1], initial_rate=rate,
                                             rate_granularity="weight")
            layer.log_alpha.requires_grad_(method == "variational B")
            modules.append(layer)
        if index < 3:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def classification_error(method: str, hidden: int, seed: int, epochs: int,
                         batch: int) -> tuple[float, list[float]]:
    """Test error at the epoch of best validation error (KL / N only for learned α), and the
    mean α of each noisy layer at the end of training (empty for binary dropout)."""
    torch.manual_seed(seed)
    splits = digits_splits(seed)
    model = classifier(method, hidden)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    inputs, targets = splits["train"]
    kl_weight = (1.0 / 3.0 if method == "variational A2" else 1.0) / len(targets)
    best = (float("inf"), 1.0)
    for _ in range(epochs):
        model.train()
        for index in torch.randperm(len(targets)).split(batch):
            loss = functional.cross_entropy(model(inputs[index]), targets[index])
            if method.startswith("variational"):
                loss = loss + kl_weight * total_kl(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        validation = test_error(model, splits["validation"])
        if validation < best[0]:
            best = (validation, test_error(model, splits["test"]))
    alphas = [module.alpha().mean().item() for module in model if hasattr(module, "alpha")
              and callable(module.alpha)]
    return best[1], alphas


def figure_1a(arguments: argparse.Namespace) -> None:
    print(f"\nFigure 1a on digits: test error (%) at best validation epoch, mean ± std over "
          f"{arguments.seeds} seeds, {arguments.epochs} epochs, Adam 1e-3, batch {arguments.batch}")
    print(f"{'method':<16}" + "".join(f"{'H = ' + str(h):>16}" for h in arguments.sizes))
    learned = []
    for method in METHODS:
        cells = []
        for hidden in arguments.sizes:
            runs = [classification_error(method, hidden, seed, arguments.epochs, arguments.batch)
                    for seed in range(arguments.seeds)]
            errors = [100 * error for error, _ in runs]
            spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
            cells.append(f"{statistics.mean(errors):6.2f} ± {spread:4.2f}")
            if method.startswith("variational"):
                mean_alphas = [statistics.mean(column) for column in zip(*(a for _, a in runs))]
                learned.append(f"  {method}, H = {hidden}: "
                               + " ".join(f"{alpha:.2f}" for alpha in mean_alphas))
        print(f"{method:<16}" + "".join(f"{cell:>16}" for cell in cells))
    print("mean learned α per layer, input first (start 0.25, then 1 = rate 0.5; bound 1):")
    print("\n".join(learned))
    print("paper (MNIST, Fig. 1a): variational ≥ fixed-rate everywhere, gap largest for small "
          "nets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: runs in seconds")
    parser.add_argument("--hidden", type=int, default=128, help="width for Table 1 and speed")
    parser.add_argument("--early", type=int, default=10)
    parser.add_argument("--late", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--speed-epochs", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--epochs", type=int, default=60, help="epochs for Figure 1a")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-figure", action="store_true", help="skip the Figure 1a part")
    parser.add_argument("--skip-table", action="store_true", help="skip Table 1 and the speed")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.hidden, arguments.early, arguments.late, arguments.draws = 16, 1, 2, 5
        arguments.speed_epochs, arguments.sizes, arguments.epochs, arguments.seeds = 1, [8], 1, 1
    torch.set_num_threads(1)
    if not arguments.skip_table:
        table_1(arguments)
        speed(arguments)
    if not arguments.skip_figure:
        figure_1a(arguments)


if __name__ == "__main__":
    main()
