"""`nndsl tui` in a real terminal: tmux runs it, we send keys and read the screen back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def tmux(*arguments: str) -> str:
    return subprocess.run(
        ["tmux", *arguments], capture_output=True, text=True, check=True, timeout=20
    ).stdout


def wait_for_screen(session: str, wanted: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux("capture-pane", "-p", "-t", session)
        if wanted in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{wanted!r} not on screen after {timeout} s:\n{screen}")
        time.sleep(0.2)


@pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"
)
def test_tui_in_tmux_shows_panes_and_quits_on_q(tmp_path: Path):
    nndsl = Path(sys.executable).parent / "nndsl"
    command = str(nndsl) if nndsl.exists() else f"{sys.executable} -m nndsl.cli"
    session = f"nndsl-tui-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "exit-status"
    # The shell records the exit status, so we can tell a clean quit from a crash.
    script = f"cd {REPO} && {command} tui specs/quickstart.yaml; echo $? > {marker}"
    environment = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", script],
        check=True,
        env=environment,
        timeout=20,
    )
    try:
        wait_for_screen(session, "no problems found")
        screen = wait_for_screen(session, "q quit")  # the footer is drawn last
        assert "specs/quickstart.yaml" in screen and "✓ valid" in screen and "q quit" in screen
        tmux("send-keys", "-t", session, "3")
        screen = wait_for_screen(session, "cut C2")
        assert "hidden1..hidden2 ×2" in screen and "phase 1/1" in screen
        tmux("send-keys", "-t", session, "f")
        wait_for_screen(session, "hidden1.linear")
        tmux("send-keys", "-t", session, "?")
        wait_for_screen(session, "next / previous phase")
        tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the app did not exit after q"
        assert marker.read_text().strip() == "0"
        time.sleep(0.3)
        sessions = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True)
        assert sessions.returncode != 0  # the session (and its process) ended with the app
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
