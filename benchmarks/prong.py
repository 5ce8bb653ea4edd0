"""Benchmark: Desjardins et al., "Natural Neural Networks" (NIPS 2015): Fisher and autoencoder.

Run: `python benchmarks/prong.py` (defaults below) or `--smoke` (tiny, seconds).

(1) Conditioning (the paper's Fig. 2, 3-layer tanh MLP on 10×10 MNIST: whitening cuts the
condition number of the Fisher by more than 95%). Here: a tanh MLP P-H-H-10 of nndsl's
`WhitenedLinear` layers on digits (pixels lit in fewer than 1% of the examples the Fisher is
taken on are dropped: they give it a null space, exact or beyond float64, in any parametrisation).
The exact Fisher F = (1/N) Σ_x Σ_y p(y|x) ∇log p(y|x) ∇log p(y|x)ᵀ over N training images
(per-class gradients by `torch.func`, float64) is taken with respect to the trained parameters
(V, d) before whitening (U = I, c = 0: the canonical network) and after one re-whitening of
every layer by nndsl's `estimate_whitening` + `rewhiten_layers` (the function is unchanged; the
benchmark checks it). Printed: the condition number of each hidden layer's Fisher block and of
the hidden layers' joint block, at initialisation and after some epochs of SGD. The output
layer's block is left out: softmax is invariant to adding one vector to all its weight rows, so
that block is exactly singular in either parametrisation.

(2) Autoencoder (the paper's Fig. 3c-d, an 8-layer MNIST autoencoder: up to 10× fewer updates,
epoch time PRONG 3.2× SGD): a 61-48-32-8-32-48-61 digits autoencoder (tanh, linear code, sigmoid
output, squared error), trained by SGD on plain `nn.Linear` layers and by SGD on `WhitenedLinear`
layers re-whitened every T updates (momentum 0.9 in both; the whitened run's momentum is reset at
each re-whitening, as nndsl's `Rewhitening` callback does), each over a grid of rates. Printed:
for a few target training errors, the fewest updates any rate of each method needs to reach it
(smoothed over 10 updates), and the seconds per epoch ratio. RMSprop and batch norm are not run.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as functional
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from nndsl.backend.modules.whitened import WhitenedLinear, estimate_whitening
from nndsl.backend.callbacks.rewhitening import rewhiten_layers


def digits_inputs() -> tuple[Tensor, Tensor]:
    """Digits in [0, 1] without the always-zero pixels `(1797, 61)`, and the labels `(1797,)`."""
    from sklearn.datasets import load_digits

    data = load_digits()
    inputs = torch.tensor(data.data, dtype=torch.float64) / 16.0  # (1797, 64)
    varying = inputs.std(dim=0) > 0
    return inputs[:, varying], torch.tensor(data.target, dtype=torch.int64)


def whitened_mlp(widths: tuple[int, ...], activation: type[nn.Module]) -> nn.Sequential:
    """`WhitenedLinear` layers with `activation` between them and none after the last."""
    layers = [WhitenedLinear(widths[i], widths[i + 1],
                             activation() if i < len(widths) - 2 else None)
              for i in range(len(widths) - 1)]
    return nn.Sequential(*layers)


def rewhiten_all(model: nn.Sequential, inputs: Tensor, epsilon: float) -> None:
    """Re-estimates every layer's c, U from its inputs on `inputs`; the function is unchanged."""
    statistics, hidden = [], inputs
    with torch.no_grad():
        for layer in model:
            statistics.append((layer, *estimate_whitening(hidden, epsilon)))
            hidden = layer(hidden)
    rewhiten_layers(statistics)


def fisher_conditions(model: nn.Sequential, inputs: Tensor) -> list[float]:
    """Condition numbers of the exact Fisher's blocks: each hidden layer's (V, d), then jointly."""
    parameters = {name: value.detach() for name, value in model.named_parameters()}

    def log_probabilities(values: dict[str, Tensor], example: Tensor) -> Tensor:
        return functional.log_softmax(functional_call(model, values, (example[None],)), -1)[0]

    jacobians = vmap(jacrev(log_probabilities), in_dims=(None, 0))(parameters, inputs)
    with torch.no_grad():
        probabilities = functional.softmax(model(inputs), -1)  # (N, classes)
    blocks = []
    for index in range(len(model) - 1):  # hidden layers only (see the module docstring)
        names = (f"{index}.weight", f"{index}.bias")
        blocks.append(torch.cat([jacobians[name].flatten(2) for name in names], -1))  # (N, C, P)

    def condition(gradients: Tensor) -> float:
        weighted = gradients * probabilities[..., None].sqrt()  # (N, C, P)
        flat = weighted.reshape(-1, gradients.shape[-1])  # (N C, P)
        fisher = flat.T @ flat / inputs.shape[0]  # (P, P)
        eigenvalues = torch.linalg.eigvalsh(fisher)
        if eigenvalues[0] <= 1e-14 * eigenvalues[-1]:  # singular to float64 precision
            return float("inf")
        return (eigenvalues[-1] / eigenvalues[0]).item()

    return [condition(block) for block in blocks] + [condition(torch.cat(blocks, -1))]


def conditioning(arguments: argparse.Namespace) -> None:
    inputs, targets = digits_inputs()
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(targets), generator=generator)
    train_inputs, train_targets = inputs[order[:1400]], targets[order[:1400]]
    # A pixel that is zero in (almost) every example gives every parametrisation's Fisher an
    # (almost) exact null space, beyond float64's resolution: keep pixels lit in >= 1% of them.
    lit = (train_inputs[: arguments.fisher_examples] > 0).double().mean(dim=0)
    train_inputs = train_inputs[:, lit >= 0.01]
    fisher_inputs = train_inputs[: arguments.fisher_examples]
    widths = (train_inputs.shape[1], arguments.hidden, arguments.hidden, 10)
    print(f"Fisher conditioning: tanh MLP {'-'.join(map(str, widths))}, exact Fisher over "
          f"{len(fisher_inputs)} digits, float64")
    labels = [f"layer {i + 1}" for i in range(len(widths) - 2)] + ["hidden joint"]
    print(f"{'when':<14}{'epsilon':>8}" + "".join(f"{label + ' before':>20}{'after':>11}"
                                                  f"{'cut':>8}" for label in labels))
    for epochs in (0, arguments.fisher_epochs):
        torch.manual_seed(0)
        model = whitened_mlp(widths, nn.Tanh).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(epochs):
            for index in torch.randperm(len(train_targets), generator=generator).split(32):
                loss = functional.cross_entropy(model(train_inputs[index]), train_targets[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        before = fisher_conditions(model, fisher_inputs)
        state = {key: value.clone() for key, value in model.state_dict().items()}
        for epsilon in arguments.epsilons:
            model.load_state_dict(state)
            with torch.no_grad():
                reference = model(train_inputs)
            rewhiten_all(model, train_inputs, epsilon)
            with torch.no_grad():
                change = (model(train_inputs) - reference).abs().max().item()
            assert change < 1e-8, f"re-whitening changed the function by {change}"
            after = fisher_conditions(model, fisher_inputs)
            cells = "".join(f"{b:20.3g}{a:11.3g}{100 * (1 - a / b):7.1f}%"
                            for b, a in zip(before, after))
            print(f"{f'{epochs} epochs':<14}{epsilon:>8g}{cells}")
    print("paper (3-layer tanh MLP, 10x10 MNIST, Fig. 2c): condition number cut by > 95%")


def autoencoder(whitened: bool, features: int) -> nn.Sequential:
    """features-48-32-8-32-48-features: tanh, a linear code layer, a sigmoid output."""
    widths = (features, 48, 32, 8, 32, 48, features)
    modules: list[nn.Module] = []
    for index in range(len(widths) - 1):
        activation = None if index == 2 else nn.Sigmoid() if index == 5 else nn.Tanh()
        if whitened:
            modules.append(WhitenedLinear(widths[index], widths[index + 1], activation))
        else:
            modules += [nn.Linear(widths[index], widths[index + 1])]
            modules += [activation] if activation is not None else []
    return nn.Sequential(*modules)


def train_autoencoder(whitened: bool, rate: float, arguments: argparse.Namespace,
                      inputs: Tensor) -> tuple[list[float], float]:
    """Trains; returns the training error after every update and the mean seconds per epoch."""
    torch.manual_seed(0)
    model = autoencoder(whitened, inputs.shape[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=rate, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    errors, updates = [], 0
    start = time.perf_counter()
    for _ in range(arguments.autoencoder_epochs):
        for index in torch.randperm(len(inputs), generator=generator).split(arguments.batch):
            if whitened and updates % arguments.every == 0:
                rewhiten_all(model, inputs[torch.randperm(len(inputs), generator=generator)
                                           [: arguments.samples]], arguments.epsilon)
                optimizer.state.clear()  # momentum was accumulated in the old coordinates
            loss = functional.mse_loss(model(inputs[index]), inputs[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            if not torch.isfinite(loss):
                return errors + [float("inf")], float("nan")
            errors.append(loss.item())
    return errors, (time.perf_counter() - start) / arguments.autoencoder_epochs


def smoothed(errors: list[float], window: int = 10) -> list[float]:
    """Running mean over the last `window` updates (minibatch errors are noisy)."""
    return [sum(errors[max(0, i - window + 1): i + 1]) / min(i + 1, window)
            for i in range(len(errors))]


def autoencoder_race(arguments: argparse.Namespace) -> None:
    inputs = digits_inputs()[0].float()  # (1797, 61)
    curves: dict[str, dict[float, list[float]]] = {"SGD": {}, "whitened": {}}
    seconds: dict[str, list[float]] = {"SGD": [], "whitened": []}
    for whitened in (False, True):
        name = "whitened" if whitened else "SGD"
        for rate in arguments.rates:
            errors, epoch_seconds = train_autoencoder(whitened, rate, arguments, inputs)
            diverged = errors[-1] == float("inf")
            curves[name][rate] = smoothed(errors[:-1] if diverged else errors)
            if not diverged:
                seconds[name].append(epoch_seconds)
            final = float("nan") if diverged else curves[name][rate][-1]
            print(f"  {name:<9} rate {rate:<6g} final smoothed training error {final:.4f}")

    def fewest_updates(name: str, target: float) -> tuple[int, float] | None:
        """The fewest updates any rate needs to reach `target`, and that rate."""
        reached = [(next(i + 1 for i, value in enumerate(curve) if value <= target), rate)
                   for rate, curve in curves[name].items() if min(curve, default=1e9) <= target]
        return min(reached) if reached else None

    print(f"\nautoencoder 61-48-32-8-32-48-61 on digits, batch {arguments.batch}, "
          f"{arguments.autoencoder_epochs} epochs, momentum 0.9, T = {arguments.every}, "
          f"epsilon = {arguments.epsilon}, N_s = {arguments.samples}; each cell: the fewest "
          f"updates over the rates {arguments.rates} (rate in brackets)")
    print(f"{'target error':>12}{'SGD':>18}{'whitened':>18}{'ratio':>8}")
    for target in arguments.targets:
        cells = [fewest_updates(name, target) for name in ("SGD", "whitened")]
        text = [f"{c[0]} ({c[1]:g})" if c else "not reached" for c in cells]
        ratio = f"{cells[0][0] / cells[1][0]:.1f}x" if all(cells) else "-"
        print(f"{target:>12g}{text[0]:>18}{text[1]:>18}{ratio:>8}")
    mean = {name: sum(values) / max(len(values), 1) for name, values in seconds.items()}
    print(f"seconds per epoch (mean over non-diverged rates): SGD {mean['SGD']:.4f}, whitened "
          f"{mean['whitened']:.4f}, ratio {mean['whitened'] / mean['SGD']:.1f}x")
    print("paper (MNIST 8-layer autoencoder): up to 10x fewer updates; epoch time 3.2x SGD")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: runs in seconds")
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--fisher-examples", type=int, default=1400)
    parser.add_argument("--fisher-epochs", type=int, default=20)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])
    parser.add_argument("--autoencoder-epochs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.03, 0.1, 0.3, 1.0, 3.0, 10.0])
    parser.add_argument("--targets", type=float, nargs="+", default=[0.06, 0.04, 0.03, 0.02])
    parser.add_argument("--every", type=int, default=100, help="T, updates between whitenings")
    parser.add_argument("--epsilon", type=float, default=1e-2, help="epsilon of the autoencoder")
    parser.add_argument("--samples", type=int, default=1000, help="N_s per re-whitening")
    parser.add_argument("--skip-conditioning", action="store_true")
    parser.add_argument("--skip-autoencoder", action="store_true")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.hidden, arguments.fisher_examples, arguments.fisher_epochs = 4, 60, 1
        arguments.epsilons, arguments.autoencoder_epochs, arguments.rates = [1e-2], 1, [0.1]
        arguments.every, arguments.targets = 5, [0.2]
    torch.set_num_threads(1)
    if not arguments.skip_conditioning:
        conditioning(arguments)
    if not arguments.skip_autoencoder:
        autoencoder_race(arguments)


if __name__ == "__main__":
    main()
