"""Active noise cancelling through a nonlinear loudspeaker: LMS against online MLPs (Cho & Lee).

    python benchmarks/anc.py            # 4000-sample streams, SDR 0..25 dB, channels H1 and H2
    python benchmarks/anc.py --smoke    # seconds

For each channel (H1 = 0.894 + 0.447 z⁻¹, H2 = 0.174 + 0.6 z⁻¹ + 0.6 z⁻² + 0.174 z⁻³) and each
signal-to-distortion ratio SDR = 10·log10(E[u²] / E[(a u³)²]) of the speaker S(u) = u - a·u³
(a set from the disturbance's statistics, u ≈ d being the drive that would cancel), four
cancellers adapt online, one update per sample in stream order:

    LMS       a 25-tap FIR, w += μ·e·x (the speaker ignored, as a transversal filter does)
    MLP       specs/anc_mlp_h1.yaml: 25 → 10 tanh → 1, backprop through the speaker plant
    8-bit     the same spec with std:presets/eight_bit (8-bit weights and input)
    analog    the same spec with std:presets/analog_neurochip (clipped 6-bit weights, offsets,
              8-bit input, rates from a coarse grid)

The MLPs are the specs' own modules (layers, plant, hardware limits) run by a plain online loop
(Lightning's per-step overhead would dominate a batch of one). NRR = 10·log10(Σe²/Σd²) dB over
the last quarter of the stream, after adaptation. The paper's Figure 5 claims are printed beside
the measured ones; a PNG like Figure 5 is written to --output.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.backend.hardware import apply_hardware, constrained_layers
from nndsl.data.engine_noise import CHANNEL_H1, CHANNEL_H2, delay_line, engine_noise, filter_channel

CHANNELS = {"H1": CHANNEL_H1, "H2": CHANNEL_H2}
ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "anc_mlp_h1.yaml"
VARIANTS = {"MLP": None, "8-bit": "std:presets/eight_bit",
            "analog": "std:presets/analog_neurochip"}
DIVERGED = 1e3  # an LMS drive beyond this has run away: its NRR is +inf ("div")
PAPER = {"H1": "chip saturates near -8 dB", "H2": "chip saturates near -5 dB"}


def speaker_coefficient(drive: np.ndarray, sdr_db: float) -> float:
    """a with 10·log10(E[u²] / E[(a u³)²]) = sdr_db for u distributed like `drive`."""
    return math.sqrt(np.mean(drive**2) / np.mean(drive**6) / 10 ** (sdr_db / 10))


def nrr(residual: np.ndarray, disturbance: np.ndarray) -> float:
    """10·log10(Σe²/Σd²); +inf once a canceller has diverged."""
    if not np.all(np.isfinite(residual)):
        return math.inf
    return 10 * math.log10(np.sum(residual**2) / np.sum(disturbance**2))


def run_lms(inputs: np.ndarray, disturbance: np.ndarray, a: float, rate: float) -> np.ndarray:
    weights = np.zeros(inputs.shape[1])
    residual = np.full(len(disturbance), np.inf)
    for step, window in enumerate(inputs):
        drive = weights @ window
        if not abs(drive) < DIVERGED:  # past the cubic's peak the update's sign is wrong
            break
        residual[step] = disturbance[step] - (drive - a * drive**3)
        weights += rate * residual[step] * window
    return residual


def build_canceller(preset: str | None, a: float, channel: tuple[float, ...]):
    """The spec's network (with its hardware limits) and its learning rate, speaker set to a."""
    overrides = [f"network.layers.2.a={a}", f"data.channel={list(channel)}"]
    text = SPEC.read_text()
    if preset is not None:  # one line away: the float spec with the device's preset
        text = text.replace("nndsl: 1\n", f"nndsl: 1\nuse: [{preset}]\n", 1)
    compiled = compile_spec(SPEC, overrides, text=text)
    assert compiled.ok, [str(diagnostic) for diagnostic in compiled.diagnostics]
    torch.manual_seed(compiled.spec.seed)
    network = GraphModule(compiled.graph, compiled.plan.tempering, memory=compiled.plan.memory)
    if compiled.spec.hardware is not None:
        apply_hardware(network, compiled.spec.hardware, compiled.spec.seed)
    return network, compiled.spec.optimizer.lr


def run_mlp(network: GraphModule, rate: float, inputs: np.ndarray,
            disturbance: np.ndarray) -> np.ndarray:
    optimizer = torch.optim.SGD(network.parameters(), lr=rate)
    clipped = constrained_layers(network)
    windows = torch.from_numpy(inputs.astype(np.float32))
    targets = torch.from_numpy(disturbance.astype(np.float32))
    residual = np.empty(len(disturbance))
    network.train()
    for step in range(len(targets)):
        output, _ = network(windows[step:step + 1])
        error = targets[step] - output.reshape(())
        loss = error.pow(2)  # the spec's mse on one example
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for layer in clipped:
            layer.clip_()
        residual[step] = error.item()
    return residual


def _cell(value: float) -> str:
    return f"{value:>8.2f}" if math.isfinite(value) else f"{'div':>8}"


def sweep(arguments: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    for channel_name, channel in CHANNELS.items():
        reference = engine_noise(arguments.samples, 1000.0, (30.0, 60.0), 4, 0.3, 0.5,
                                 arguments.seed)
        disturbance = filter_channel(reference, channel)
        inputs = delay_line(reference, 25)
        tail = slice(3 * len(disturbance) // 4, None)
        rows: dict[str, list[float]] = {name: [] for name in ("LMS", *VARIANTS)}
        print(f"\nchannel {channel_name} = {list(channel)}: NRR (dB) over the last quarter of "
              f"{arguments.samples} samples")
        print(f"{'SDR dB':>7} {'a':>7} " + " ".join(f"{name:>8}" for name in rows))
        for sdr in arguments.sdr:
            a = speaker_coefficient(disturbance, sdr)
            rows["LMS"].append(nrr(run_lms(inputs, disturbance, a, arguments.lms_rate)[tail],
                                   disturbance[tail]))
            for name, preset in VARIANTS.items():
                network, rate = build_canceller(preset, a, channel)
                residual = run_mlp(network, rate, inputs, disturbance)
                rows[name].append(nrr(residual[tail], disturbance[tail]))
            print(f"{sdr:>7g} {a:>7.3f} " + " ".join(_cell(rows[name][-1]) for name in rows),
                  flush=True)
        results[channel_name] = rows
    return results


def claims(results: dict[str, dict[str, list[float]]], sdrs: list[float]) -> None:
    print("\nthe paper's Figure 5 claims against this run")
    for channel, rows in results.items():
        low, high = int(np.argmin(sdrs)), int(np.argmax(sdrs))
        lms_loss = rows["LMS"][low] - rows["LMS"][high]
        best = sum(rows["MLP"][index] <= min(rows[name][index] for name in rows)
                   for index in range(len(sdrs)))
        costs = np.array(rows["8-bit"]) - np.array(rows["MLP"])
        quantisation = float(np.median(costs[np.isfinite(costs)])) if np.isfinite(costs).any() \
            else math.inf
        diverged = sum(value > 0 for value in rows["8-bit"])
        print(f"  {channel}: LMS degrades with distortion: NRR {rows['LMS'][high]:.1f} dB at "
              f"SDR {sdrs[high]:g} -> {rows['LMS'][low]:.1f} dB at SDR {sdrs[low]:g} "
              f"({'yes' if lms_loss > 1 else 'no'})")
        print(f"  {channel}: float MLP best at {best} of {len(sdrs)} SDRs")
        print(f"  {channel}: 8-bit costs {quantisation:.1f} dB (median over SDRs) against "
              f"float, largest {np.max(costs):.1f} dB, worse than no cancelling at {diverged} "
              f"SDR(s) (paper: 'much degraded')")
        print(f"  {channel}: analog best NRR {min(rows['analog']):.1f} dB "
              f"(paper: {PAPER[channel]}); beats LMS at SDR {sdrs[low]:g}: "
              f"{'yes' if rows['analog'][low] < rows['LMS'][low] else 'no'}")
        ratio = (10 ** (rows["MLP"][high] / 10)) / (10 ** (rows["LMS"][high] / 10))
        print(f"  {channel}: residual-energy ratio MLP / LMS at SDR {sdrs[high]:g}: {ratio:.3f}")


def figure(results: dict[str, dict[str, list[float]]], sdrs: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    markers = {"LMS": "+", "MLP": "*", "8-bit": "x", "analog": "o"}
    figure_, axes = pyplot.subplots(1, len(results), figsize=(10, 4), sharey=True)
    for axis, (channel, rows) in zip(np.atleast_1d(axes), results.items()):
        for name, values in rows.items():
            axis.plot(sdrs, values, marker=markers[name], label=name)
        axis.set_title(f"channel {channel} (off the scale: diverged)")
        axis.set_ylim(-35, 2)
        axis.set_xlabel("signal-to-distortion ratio (dB)")
        axis.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("noise reduction ratio (dB)")
    np.atleast_1d(axes)[0].legend()
    figure_.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure_.savefig(path, dpi=100)
    print(f"\nfigure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: runs in seconds")
    parser.add_argument("--samples", type=int, default=4_000)
    parser.add_argument("--sdr", type=float, nargs="+", default=[0, 5, 10, 15, 20, 25])
    parser.add_argument("--lms-rate", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("anc_output"))
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.samples, arguments.sdr = 800, [0.0, 20.0]
    torch.set_num_threads(1)
    started = time.perf_counter()
    results = sweep(arguments)
    claims(results, arguments.sdr)
    figure(results, arguments.sdr, arguments.output / "anc_nrr.png")
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
