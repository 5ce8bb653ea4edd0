"""`run_tui` and `nndsl tui`: exit statuses, the message for a missing file, no torch imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO

from nndsl.cli import main
from nndsl.tui import run_tui


def test_missing_file_exits_2_with_a_message_and_no_traceback(tmp_path, capsys):
    assert run_tui(tmp_path / "nope.yaml") == 2
    error = capsys.readouterr().err
    assert error.strip() == f"nndsl tui: {tmp_path / 'nope.yaml'}: no such file"
    assert main(["tui", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_the_tui_never_imports_torch_or_lightning():
    # A fresh interpreter: this test session may have imported torch elsewhere.
    script = textwrap.dedent("""
        import asyncio, sys
        from nndsl.tui.app import NndslApp

        async def drive():
            app = NndslApp("specs/topdown_blstm_ctc.yaml")
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.press("3", "n", "f", "4", "n", "2", "r", "q")
            return app.return_value

        assert asyncio.run(drive()) == 0
        heavy = sorted(name for name in ("torch", "lightning", "pytorch_lightning", "torchmetrics")
                       if name in sys.modules)
        print("heavy:", heavy)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout
