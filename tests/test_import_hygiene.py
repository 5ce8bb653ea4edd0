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


def test_validate_does_not_import_networkx():
    """networkx costs a third of validate's time; the graph builds its networkx view on demand."""
    probe = ("import sys\nfrom nndsl.cli import main\nassert main(['validate', 'specs/quickstart.yaml']) == 0\n"
             "print('NETWORKX', 'networkx' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "NETWORKX False" in result.stdout, result.stderr


def test_graph_offers_a_networkx_view():
    from nndsl.api import compile_spec

    graph = compile_spec(ROOT / "specs/family_relations_tempered.yaml").graph
    digraph = graph.digraph
    assert set(digraph.successors("codes")) == {"central"}
    assert digraph.nodes["central"]["node"].parameter_count == 13 * 12
