"""`init_from` with checkpoints in other key layouts: a plain `nn.Sequential` state dict and a
Lightning checkpoint of another module (`model.` prefix) load through `rename:` patterns and
`strip_prefix:` — checked at validation without torch, shown by `show`, the tensors arriving in
the right layers when training starts; a checkpoint of the wrong sizes is refused at validation,
and one whose pickle would run code is refused unread."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.run.init_weights import load_initial_weights
from nndsl.run.trained import build_trained_network

SPEC = """
nndsl: 1
name: target
data: {source: digits}
network:
  layers:
    - {name: enc1, type: linear, units: 16, activation: tanh}
    - {name: enc2, type: linear, units: 8, activation: tanh}
    - {name: out, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""


class Encoder(nn.Module):
    """A user's own module: `encoder.fc1`, `encoder.fc2`, `head`."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.fc1, self.encoder.fc2 = nn.Linear(64, hidden), nn.Linear(hidden, 8)
        self.head = nn.Linear(8, 10)


def _compiled(tmp_path, init: str):
    (tmp_path / "spec.yaml").write_text(SPEC + init)
    return compile_spec(str(tmp_path / "spec.yaml"))


def test_plain_sequential_state_dict_by_index(tmp_path, capsys):
    torch.manual_seed(0)
    sequential = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(),
                               nn.Linear(8, 10))
    torch.save(sequential.state_dict(), tmp_path / "seq.pt")
    compiled = _compiled(tmp_path, 'init_from: {path: seq.pt, rename: {"0": enc1, "2": enc2, '
                         '"4": out}}\n').raise_for_errors()
    assert [(layer.layer, layer.source) for layer in compiled.plan.init.layers] == [
        ("enc1", "0"), ("enc2", "2"), ("out", "4")]
    network = build_trained_network(compiled)
    assert load_initial_weights(network, compiled.plan.init) == 64 * 16 + 16 + 16 * 8 + 8 + 90
    state = network.state_dict()
    assert torch.equal(state["layers.enc2.0.weight"], sequential[2].weight)
    assert torch.equal(state["layers.out.0.bias"], sequential[4].bias)
    # Without a mapping the layers do not match, and the hint says how to map them.
    compiled = _compiled(tmp_path, "init_from: seq.pt\n")
    codes = {diagnostic.code for diagnostic in compiled.diagnostics}
    assert "E465" in codes and "E467" in codes
    assert any("not in nndsl's key layout" in (diagnostic.hint or "")
               for diagnostic in compiled.diagnostics)


def test_lightning_checkpoint_of_another_module_with_patterns(tmp_path, capsys):
    torch.manual_seed(1)
    module = Encoder()
    state = {f"model.{key}": value for key, value in module.state_dict().items()}
    state["criterion.weight"] = torch.ones(10)  # another attribute of that LightningModule
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "other.ckpt")
    init = ('init_from: {path: other.ckpt, strip_prefix: model., rename: '
            '{"encoder.fc*": "enc*", "re:he(a)d": "out"}}\n')
    compiled = _compiled(tmp_path, init).raise_for_errors()
    assert {layer.layer: layer.source for layer in compiled.plan.init.layers} == {
        "enc1": "encoder.fc1", "enc2": "encoder.fc2", "out": "head"}
    assert main(["show", str(tmp_path / "spec.yaml")]) == 0
    shown = capsys.readouterr().out
    assert "encoder.fc1" in shown and "model." in shown and "last name" in shown
    network = build_trained_network(compiled)
    load_initial_weights(network, compiled.plan.init)
    assert torch.equal(network.state_dict()["layers.enc1.0.weight"], module.encoder.fc1.weight)
    assert torch.equal(network.state_dict()["layers.out.0.weight"], module.head.weight)


def test_mismatched_foreign_checkpoint_is_refused_at_validation(tmp_path):
    torch.save(Encoder(hidden=12).state_dict(), tmp_path / "small.pt")
    compiled = _compiled(tmp_path, 'init_from: {path: small.pt, rename: {"encoder.fc*": '
                         '"enc*", head: out}}\n')
    errors = [item for item in compiled.diagnostics if item.severity == "error"]
    assert [item.code for item in errors] == ["E466", "E466"]
    assert "`encoder.fc1` 780" in errors[0].message and "`encoder.fc2` 104" in errors[1].message


class _Payload:
    """Pickles as a call to os.system: a checkpoint that would run code when loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_checkpoint_is_refused_unread(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model.0.weight": torch.zeros(16, 64), "model.0.bias": _Payload(str(marker))},
               tmp_path / "hostile.pt")
    compiled = _compiled(tmp_path, 'init_from: {path: hostile.pt, strip_prefix: model., '
                         'rename: {"0": enc1}, select: [enc1]}\n')
    (diagnostic,) = [item for item in compiled.diagnostics if item.severity == "error"]
    assert diagnostic.code == "E335" and not marker.exists()
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 2
    assert not marker.exists() and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_training_starts_from_the_foreign_checkpoint(tmp_path):
    """Through `nndsl train`: a phase that trains only `out` ends with the checkpoint's
    `encoder.fc1` unchanged in `enc1`."""
    torch.manual_seed(2)
    module = Encoder()
    torch.save({"state_dict": {f"model.{key}": value
                               for key, value in module.state_dict().items()}},
               tmp_path / "other.ckpt")
    text = SPEC + ('init_from: {path: other.ckpt, strip_prefix: model., rename: '
                   '{"encoder.fc*": "enc*", head: out}}\n'
                   'trainer: {max_epochs: 1, limit_train_batches: 2}\n'
                   'schedule:\n  - {phase: train, train: [out], stop: {max_epochs: 1}}\n')
    (tmp_path / "spec.yaml").write_text(text)
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 0
    final = torch.load(tmp_path / "run/final_weights.pt")
    assert torch.equal(final["layers.enc1.0.weight"], module.encoder.fc1.weight)
    assert torch.equal(final["layers.enc2.0.bias"], module.encoder.fc2.bias)
    assert not torch.equal(final["layers.out.0.weight"], module.head.weight)  # trained


def test_tensors_that_do_not_pair_stop_training_before_the_run_directory(tmp_path, capsys):
    """Sizes agree (validation passes) but the tensors do not pair by last name, or one is
    transposed: `nndsl train` says so (E466, exit 2) before anything is written."""
    torch.save({"0.gamma": torch.zeros(16, 64), "0.beta": torch.zeros(16),
                "1.weight": torch.zeros(64, 16), "1.bias": torch.zeros(16)}, tmp_path / "odd.pt")
    compiled = _compiled(tmp_path, 'init_from: {path: odd.pt, rename: {"0": enc1, "1": enc1}, '
                         "select: [enc1]}\n")
    assert [item.code for item in compiled.diagnostics] == ["E352"]  # one layer, two sources
    for source in ("0", "1"):
        (tmp_path / "spec.yaml").write_text(SPEC + f'init_from: {{path: odd.pt, rename: '
                                            f'{{"{source}": enc1}}, select: [enc1]}}\n')
        assert compile_spec(str(tmp_path / "spec.yaml")).ok
        assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir",
                     str(tmp_path / "run")]) == 2
        error = capsys.readouterr().err
        assert "E466" in error and not (tmp_path / "run").exists()
        assert ("no `gamma` tensor" if source == "0" else "shape (64, 16)") in error


def test_a_module_whose_attribute_is_called_layers(tmp_path, capsys):
    """`layers.0.weight` reads as nndsl's layout by default, which training then refuses with a
    hint; `layout: other` reads it as a module path and loads it."""
    module = nn.Module()
    module.layers = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 8))
    torch.save(module.state_dict(), tmp_path / "layers.pt")
    (tmp_path / "spec.yaml").write_text(
        SPEC + 'init_from: {path: layers.pt, rename: {"0": enc1, "2": enc2}, '
        "select: [enc1, enc2]}\n")
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "E466" in error and "layout: other" in error and not (tmp_path / "run").exists()
    compiled = _compiled(tmp_path, 'init_from: {path: layers.pt, layout: other, rename: '
                         '{"layers.*": "enc*"}, select: [enc1, enc2]}\n')
    assert compiled.ok is False  # layers.0 -> enc0: this network has no such layer
    assert [item.code for item in compiled.diagnostics] == ["E336"]
    compiled = _compiled(tmp_path, 'init_from: {path: layers.pt, layout: other, rename: '
                         '{"layers.0": enc1, "layers.2": enc2}, select: [enc1, enc2]}\n')
    network = build_trained_network(compiled.raise_for_errors())
    load_initial_weights(network, compiled.plan.init)
    assert torch.equal(network.state_dict()["layers.enc2.0.weight"], module.layers[2].weight)
