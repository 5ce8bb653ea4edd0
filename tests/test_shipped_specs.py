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
    # A fine-tuning spec starts from a run its header trains first: until that run exists, its
    # one diagnostic is the warning saying so.
    pending = tuple(item for item in compiled.diagnostics
                    if item.code == "E335" and item.severity == "warning")
    assert compiled.diagnostics == pending
    assert len(pending) <= 1 and (not pending or "--run-dir runs/" in path.read_text())
    assert compiled.plan is not None


@pytest.mark.parametrize("path", SPECS, ids=[path.name for path in SPECS])
def test_shipped_spec_header_names_its_command(path):
    header = path.read_text().split("\nnndsl:")[0]
    assert "nndsl " in header and path.name in header


def test_stdlib_fragments_have_headers_and_blocks_expand(tmp_path):
    names = stdlib_names()
    assert len(names) >= 5
    for name in names:
        text = locate_fragment(name, ".").resource.read_text()
        assert text.startswith("#"), f"{name} needs a header comment"
    blocks = [name for name in names if name.startswith("std:blocks/")]
    # Blocks for flat features only: the others (sequences, feature maps) are used by shipped specs.
    other_inputs = ("conv", "lstm", "transformer", "conformer", "resnet")
    layers = "\n".join(f"    - {{block: {name.rsplit('/', 1)[1]}}}" for name in blocks
                       if not any(word in name for word in other_inputs))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"nndsl: 1\nname: t\nuse: [{', '.join(blocks)}]\ndata: {{source: digits}}\n"
                    f"network:\n  layers:\n{layers}\n    - {{name: out, type: linear, units: 10}}\n"
                    "loss: {type: cross_entropy}\noptimizer: {type: sgd, lr: 0.1}\n")
    compiled = compile_spec(spec)
    assert compiled.diagnostics == ()


def test_every_stdlib_block_is_used_by_a_shipped_spec():
    """So each block validates, shows and trains as part of a spec (and the drift test builds it)."""
    used = "\n".join(path.read_text() for path in SPECS)
    for name in stdlib_names():
        if name.startswith("std:blocks/"):
            assert name in used, f"no shipped spec uses {name}"
