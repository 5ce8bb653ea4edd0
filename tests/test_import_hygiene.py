"""The front end (validate, show, schema, ls) never imports torch or lightning."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from nndsl.cli import main
for command in (["validate", "specs/quickstart.yaml", "specs/topdown_blstm_ctc.yaml"],
                ["show", "specs/family_relations_tempered.yaml"], ["schema"], ["ls"]):
    assert main(command) == 0, command
heavy = sorted(name for name in sys.modules
               if name.split(".")[0] in ("torch", "lightning", "pytorch_lightning"))
print("HEAVY", heavy)
"""


def test_front_end_commands_do_not_import_torch_or_lightning():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


@pytest.mark.parametrize("spec", [
    "specs/quickstart.yaml",
    pytest.param("specs/topdown_spoken_words.yaml", marks=pytest.mark.skipif(
        shutil.which("espeak-ng") is None, reason="the spoken corpus needs espeak-ng")),
])
def test_validate_of_a_valid_spec_imports_only_what_it_needs(spec):
    """Start-up time: networkx (the graph's view is built on demand), rich (only diagnostics are
    rendered with it), the planners, data sources and layer types a spec does not use, and the
    modules only error messages, JSON output or checkpoint reading need stay unimported."""
    probe = (
        "import sys\nfrom nndsl.cli import main\n"
        f"assert main(['validate', '{spec}']) == 0\n"
        "print('LOADED', sorted(name for name in sys.modules"
        " if name.split('.')[0] in ('networkx', 'rich')\n"
        "      or name in ('nndsl.plan.memory', 'nndsl.plan.ensemble', 'nndsl.data.files',"
        " 'nndsl.data.kaldi',\n"
        "                  'nndsl.plan.checkpoint_shapes', 'difflib', 'json', 'pickle',"
        " 'nndsl.layers.convolution', 'nndsl.layers.attention')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert "LOADED []" in result.stdout, result.stdout + result.stderr


def test_validate_status_lines_follow_the_colour_conventions(tmp_path):
    """Without rich, the status line still honours NO_COLOR / FORCE_COLOR; errors still render."""
    import os

    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "specs/quickstart.yaml").read_text().replace("metrics:", "metricz:"))
    command = [sys.executable, "-c",
               "import sys; from nndsl.cli import main; sys.exit(main(sys.argv[1:]))",
               "validate", str(ROOT / "specs/quickstart.yaml")]
    environment = {
        key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")
    }
    plain = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment,
                           timeout=120)
    forced = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**environment, "FORCE_COLOR": "1"})
    refused = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**environment, "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.stdout == "✓ specs/quickstart.yaml: valid\n".replace(
        "specs/", str(ROOT / "specs") + "/"
    )
    assert forced.stdout.startswith("\x1b[32m✓\x1b[0m ")
    assert refused.stdout == plain.stdout
    failed = subprocess.run([*command[:-1], str(bad)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=environment)
    assert failed.returncode == 2
    assert "metricz" in failed.stderr and f"✗ {bad}: 1 error" in failed.stderr


def test_graph_offers_a_networkx_view():
    from nndsl.api import compile_spec

    graph = compile_spec(ROOT / "specs/family_relations_tempered.yaml").graph
    digraph = graph.digraph
    assert set(digraph.successors("codes")) == {"central"}
    assert digraph.nodes["central"]["node"].parameter_count == 13 * 12
