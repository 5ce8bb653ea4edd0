"""Every shipped spec validates, and every stdlib fragment can be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.api import compile_spec
from nndsl.resolve.library import locate_fragment, stdlib_names

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[path.name for path in SPECS])
def test_shipped_spec_validates(path):
    compiled = compile_spec(path)
    assert compiled.diagnostics == ()
    assert compiled.plan is not None


@pytest.mark.parametrize("path", SPECS, ids=[path.name for path in SPECS])
def test_shipped_spec_header_names_its_command(path):
    header = path.read_text().split("\nnndsl:")[0]
    assert f"nndsl " in header and path.name in header


def test_stdlib_fragments_have_headers_and_blocks_expand(tmp_path):
    names = stdlib_names()
    assert len(names) >= 5
    for name in names:
        text = locate_fragment(name, ".").resource.read_text()
        assert text.startswith("#"), f"{name} needs a header comment"
    blocks = [name for name in names if name.startswith("std:blocks/")]
    layers = "\n".join(f"    - {{block: {name.rsplit('/', 1)[1]}}}" for name in blocks if "conv" not in name
                       and "blstm" not in name and "lstm" not in name)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"nndsl: 1\nname: t\nuse: [{', '.join(blocks)}]\ndata: {{source: digits}}\n"
                    f"network:\n  layers:\n{layers}\n    - {{name: out, type: linear, units: 10}}\n"
                    "loss: {type: cross_entropy}\noptimizer: {type: sgd, lr: 0.1}\n")
    compiled = compile_spec(spec)
    assert compiled.diagnostics == ()
