"""The front end (validate, show, schema, ls) never imports torch or lightning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from nndsl.cli import main
for command in (["validate", "specs/quickstart.yaml", "specs/topdown_blstm_ctc.yaml"],
                ["show", "specs/family_relations_tempered.yaml"], ["schema"], ["ls"]):
    assert main(command) == 0, command
heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "lightning", "pytorch_lightning"))
print("HEAVY", heavy)
"""


def test_front_end_commands_do_not_import_torch_or_lightning():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
