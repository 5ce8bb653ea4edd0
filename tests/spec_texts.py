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


def dense_spec(name: str, seed: int, lr: float, *, units: int = 16, repeat: int = 3,
               unit_names: str = "h{index}", dropout: float | None = None,
               extra_layers: tuple[str, ...] = (), head: str = "out",
               batch_size: int | None = 128, held_out: float | None = 0.2,
               momentum: float | None = 0.9, scheduler: str | None = None, metrics: bool = True,
               cuts: bool = True, schedule: tuple[str, ...] = (), trainer: str | None = None,
               extra: str = "") -> str:
    """The spec most training tests train, with what each test varies as arguments: `repeat`
    dense units (std:blocks/dense, tanh) named `unit_names` and a 10-class linear `head` on the
    built-in digits, cross-entropy, SGD.

    Args:
        name, seed, lr: the experiment's name and seed, and SGD's learning rate.
        units, repeat, unit_names, dropout: the dense block's width, count, names and dropout.
        extra_layers: layer entries (flow mappings) between the dense units and the head.
        batch_size, held_out: the data's batch size, and the validation and the test fractions
            (each `held_out`); None leaves them to their defaults.
        momentum, scheduler: SGD's momentum (None: none) and a scheduler mapping.
        metrics: log `accuracy`; cuts: `cuts: units`.
        schedule: the phases, each a flow mapping; trainer: the trainer mapping.
        extra: text appended as it is (an `init_from:` section, say).
    """
    data = ["source: digits"]
    data += [f"batch_size: {batch_size}"] if batch_size is not None else []
    data += ([f"valid_fraction: {held_out:g}", f"test_fraction: {held_out:g}"]
             if held_out is not None else [])
    block = [f"units: {units}", "activation: tanh"] + (
        [f"dropout: {dropout:g}"] if dropout is not None else [])
    optimizer = [f"type: sgd, lr: {lr:g}"]
    optimizer += [f"momentum: {momentum:g}"] if momentum is not None else []
    optimizer += [f"scheduler: {scheduler}"] if scheduler is not None else []
    lines = ["nndsl: 1", f"name: {name}", f"seed: {seed}", "use: [std:blocks/dense]",
             f"data: {{{', '.join(data)}}}", "network:", "  layers:",
             f'    - {{block: dense, repeat: {repeat}, name: "{unit_names}", '
             f"with: {{{', '.join(block)}}}}}",
             *(f"    - {layer}" for layer in extra_layers),
             f"    - {{name: {head}, type: linear, units: 10}}",
             "loss: {type: cross_entropy}",
             *(["metrics: [accuracy]"] if metrics else []),
             f"optimizer: {{{', '.join(optimizer)}}}",
             *(["cuts: units"] if cuts else []),
             *(["schedule:", *(f"  - {phase}" for phase in schedule)] if schedule else []),
             *([f"trainer: {trainer}"] if trainer is not None else [])]
    return "\n".join(lines) + "\n" + extra


def compile_text(text: str, overrides: list[str] | None = None) -> Compiled:
    """Compile a spec given as text (located as `spec.yaml`), with optional `--set` overrides."""
    return compile_spec("spec.yaml", overrides, text=text)


def compile_file(folder: Path, text: str, name: str = "spec.yaml") -> Compiled:
    """Write a spec into `folder` and compile it from there (relative paths in it, such as
    fragments beside it, resolve against `folder`)."""
    path = folder / name
    path.write_text(text)
    return compile_spec(path)
