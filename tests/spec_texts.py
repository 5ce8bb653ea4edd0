"""Spec texts and helpers shared by the stage tests.

Imported by name (`from spec_texts import MINIMAL_SPEC`): tests/ is on sys.path because
tests/conftest.py lives there and the test folders are not packages.
"""

from __future__ import annotations

from pathlib import Path

from nndsl.api import Compiled, compile_spec

# The smallest valid spec most stage tests start from and edit with str.replace: two dense
# layers on the built-in digits, cross-entropy, plain SGD.
MINIMAL_SPEC = """nndsl: 1
name: t
data: {source: digits}
network:
  layers:
    - {name: hidden, type: linear, units: 32, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""


def compile_text(text: str, overrides: list[str] | None = None) -> Compiled:
    """Compile a spec given as text (located as `spec.yaml`), with optional `--set` overrides."""
    return compile_spec("spec.yaml", overrides, text=text)


def compile_file(folder: Path, text: str, name: str = "spec.yaml") -> Compiled:
    """Write a spec into `folder` and compile it from there (relative paths in it, such as
    fragments beside it, resolve against `folder`)."""
    path = folder / name
    path.write_text(text)
    return compile_spec(path)
