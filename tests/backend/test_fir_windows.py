"""`fir_channel` on time-major windows and flat vectors, and `engine_noise`'s windows: the plant
placed after a canceller that sees one window of steps per example."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nndsl.backend.modules.plants import FirChannelModule
from nndsl.data.engine_noise import EngineNoise, EngineNoiseParams
from nndsl.layers import LAYERS, ShapeProblem

TAPS = (0.174, 0.6, 0.6, 0.174)


def test_the_newest_step_of_a_window_is_the_whole_signal_filtered():
    torch.manual_seed(0)
    signal = torch.randn(1, 30, 2)
    filtered = FirChannelModule(TAPS)(signal)  # causal along the whole signal
    last = FirChannelModule(TAPS, keep_last=True)
    for width in (4, 6):
        for now in range(width - 1, 30):
            window = signal[:, now - width + 1:now + 1]  # steps now-width+1 .. now, oldest first
            torch.testing.assert_close(last(window), filtered[:, now])


def test_a_flat_window_is_one_signal_oldest_first():
    torch.manual_seed(1)
    flat = torch.randn(3, 7)
    torch.testing.assert_close(FirChannelModule(TAPS)(flat),
                               FirChannelModule(TAPS)(flat[..., None])[..., 0])
    newest = FirChannelModule(TAPS, keep_last=True)(flat)
    assert newest.shape == (3, 1)
    expected = sum(tap * flat[:, 6 - k] for k, tap in enumerate(TAPS))
    torch.testing.assert_close(newest[:, 0], expected)


def test_the_error_after_the_channel_reaches_every_step_through_its_tap():
    window = torch.randn(1, 5, 1, requires_grad=True)
    FirChannelModule(TAPS, keep_last=True)(window).sum().backward()
    # d y(now) / d u(now - k) = taps[k]; the step before the taps reach gets nothing.
    assert window.grad[0, :, 0].tolist() == pytest.approx([0.0, *reversed(TAPS)])


def _output(params: dict, shape: tuple) -> tuple:
    record = LAYERS.get("fir_channel")
    return record.output_shape(record.Params(**params), [shape])


def test_shape_rule_for_windows_and_flat_vectors():
    assert _output({"taps": TAPS}, ("T", 3)) == ("T", 3)
    assert _output({"taps": TAPS, "keep": "last"}, (4, 3)) == (3,)
    assert _output({"taps": TAPS}, (6,)) == (6,)
    assert _output({"taps": TAPS, "keep": "last"}, (6,)) == (1,)
    for params, shape in (({"taps": TAPS}, (3,)),  # a window shorter than the taps
                          ({"taps": TAPS, "keep": "last"}, (3, 2)),
                          ({"taps": TAPS, "keep": "last"}, ("T", 2)),  # no fixed newest step
                          ({"taps": TAPS}, (4, 3, 2))):
        with pytest.raises(ShapeProblem) as problem:
            _output(params, shape)
        assert problem.value.code == "E504", (params, shape)


def test_engine_noise_windows_are_the_delay_lines_of_the_last_steps():
    source = EngineNoise()
    single = source.load(EngineNoiseParams(samples=200, taps=5), Path("."), seed=3)
    windowed = source.load(EngineNoiseParams(samples=200, taps=5, windows=3), Path("."), seed=3)
    assert windowed.inputs.shape == (200, 3, 5)
    assert source.signature(EngineNoiseParams(samples=200, taps=5, windows=3),
                            Path(".")).input_shape == (3, 5)
    assert (windowed.targets == single.targets).all()
    for now in (0, 1, 2, 57, 199):
        for row in range(3):  # row j holds step now - 2 + j; zeros before the stream starts
            step = now - 2 + row
            expected = single.inputs[step] if step >= 0 else 0 * single.inputs[0]
            assert (windowed.inputs[now, row] == expected).all(), (now, row)
