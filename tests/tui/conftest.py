"""Helpers for driving `nndsl tui` with textual's pilot: the screen as plain text, spec paths."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"

BROKEN_SPEC = """\
nndsl: 1
name: broken
seed: 7
use: [std:blocks/dense]
data: {source: digits, batch_size: 64}
network:
  layers:
    - {block: dense, repeat: 2, name: "hidden{index}", with: {units: 64, activation: tanh}}
    - {type: linear, unitz: 10}
    - {type: lienar, units: 3}
loss: {type: cross_entropy}
metrics: [accuracy]
optimizer: {type: sgd, lr: 0.1}
schedule:
  - {phase: joint, stop: {monitor: valid/loss, patience: 5, max_epochs: 30}}
"""


def screen_text(app) -> str:
    """What the terminal shows now, as plain text (the same render `export_screenshot` uses)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds (the file watcher polls every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s:\n{screen_text(pilot.app)}")
        await pilot.pause(0.1)


@pytest.fixture
def broken_spec(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_SPEC)
    return path
