"""Reports: Σ|Δθ| per layer (the top-down paper's Table 1 diagnostic), validation curves, the
report command."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from rich.console import Console
from spec_texts import dense_spec

from nndsl.backend.callbacks.parameter_change import ParameterChange
from nndsl.cli import main
from nndsl.cli.training import render_report
from nndsl.run.report import change_table, read_metrics, write_curves


class _Network(torch.nn.Module):
    """Two layers with parameters, as `GraphModule` exposes them."""

    def __init__(self):
        super().__init__()
        self.order = ["low", "high"]
        self.parts = torch.nn.ModuleDict({"low": torch.nn.Linear(2, 2),
                                          "high": torch.nn.Linear(2, 1)})

    def layer_parameters(self, name):
        return list(self.parts[name].named_parameters())


def _epoch(callback, network, epoch, loss):
    trainer = SimpleNamespace(current_epoch=epoch,
                              callback_metrics={"valid/loss": torch.tensor(loss)},
                              sanity_checking=False, state=SimpleNamespace(fn="fit"))
    callback.on_validation_end(trainer, SimpleNamespace(network=network))
    callback.on_train_epoch_end(trainer, SimpleNamespace(network=network))  # counted once per epoch


def _start(callback, network):
    callback.on_train_start(SimpleNamespace(current_epoch=0), SimpleNamespace(network=network))


def test_parameter_change_is_the_sum_of_absolute_changes_from_the_start_to_the_best_epoch():
    network = _Network()
    network.parts["high"].requires_grad_(False)  # frozen: not reported
    callback = ParameterChange("valid/loss", "min")
    low = network.parts["low"]
    with torch.no_grad():
        low.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        low.bias.copy_(torch.tensor([0.5, -0.5]))
    _start(callback, network)  # θ_0
    with torch.no_grad():
        low.bias.copy_(torch.tensor([0.5, 0.25]))  # |Δ| = 0.75 in the first epoch
    _epoch(callback, network, 0, loss=1.0)
    # A one-epoch run reports its change (measured from the end of epoch 1 it would be 0).
    assert callback.summary() == {"parameter_change": {"low": 0.75}, "change_from_epoch": 0,
                                  "change_to_epoch": 1}
    with torch.no_grad():
        low.weight.copy_(torch.tensor([[1.5, 2.0], [2.0, 4.0]]))  # |Δ| = 0.5 + 1
        low.bias.copy_(torch.tensor([0.5, 0.0]))  # |Δ| = 0.5
    _epoch(callback, network, 1, loss=0.5)  # new best
    with torch.no_grad():
        low.weight.add_(10.0)
    _epoch(callback, network, 2, loss=0.7)  # worse: the best stays epoch 2
    assert callback.summary() == {"parameter_change": {"low": 2.0}, "change_from_epoch": 0,
                                  "change_to_epoch": 2}
    restored = ParameterChange("valid/loss", "min")
    restored.load_state_dict(callback.state_dict())
    with torch.no_grad():
        low.weight.copy_(torch.tensor([[0.0, 2.0], [3.0, 4.0]]))  # |Δ| = 1 from θ_0
        low.bias.copy_(torch.tensor([0.5, -0.5]))
    _start(restored, network)  # a resumed run keeps the restored θ_0
    _epoch(restored, network, 3, loss=0.1)
    assert restored.summary() == {"parameter_change": {"low": 1.0}, "change_from_epoch": 0,
                                  "change_to_epoch": 4}


def _write_log(folder: Path, name: str, rows: list[tuple[int, float, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,step,train/loss,valid/accuracy,valid/loss"]
    for epoch, loss, accuracy in rows:
        lines += [f"{epoch},{epoch * 3 + 2},,{accuracy},{loss}",
                  f"{epoch},{epoch * 3 + 2},{loss + 0.1},,"]
    (folder / name).write_text("\n".join(lines) + "\n")


SUMMARY = {
    "name": "report-test",
    "phases": [
        {"phase": "joint", "run": "joint", "cut": None, "attempt": None, "epochs": 3,
         "monitor": "valid/loss",
         "best": 0.8, "baseline": None, "accepted": True, "change_to_epoch": 3,
         "parameter_change": {"h1.linear": 1.5, "h2.linear": 20.25, "out": 300.0}},
        {"phase": "top_down", "run": "top_down/1-C2", "cut": "C2", "attempt": 1, "epochs": 2,
         "monitor": "valid/loss", "best": 0.7, "baseline": 0.8, "accepted": True,
         "change_from_epoch": 0, "change_to_epoch": 2,
         "parameter_change": {"h1.linear": 4.0, "h2.linear": 5.0}},
        {"phase": "top_down", "run": "top_down/2-C1", "cut": "C1", "attempt": 2, "epochs": 2,
         "monitor": "valid/loss", "best": 0.9, "baseline": 0.7, "accepted": False,
         "change_to_epoch": 1, "parameter_change": {"h1.linear": 0.0}},
    ],
    "test": {"test/loss": 0.75, "test/accuracy": 0.8},
}
GRAPH = {"units": [{"name": "h1", "nodes": ["h1.linear", "h1.dropout"]},
                   {"name": "h2", "nodes": ["h2.linear", "h2.dropout"]},
                   {"name": "out", "nodes": ["out"]}],
         "nodes": [{"name": "h1.linear", "parameters": 10}, {"name": "h1.dropout", "parameters": 0},
                   {"name": "h2.linear", "parameters": 10}, {"name": "h2.dropout", "parameters": 0},
                   {"name": "out", "parameters": 5}]}


def _run_directory(root: Path) -> Path:
    directory = root / "run"
    _write_log(directory / "logs/joint", "metrics.csv",
               [(0, 1.2, 0.5), (1, 0.9, 0.6), (2, 0.8, 0.7)])
    # before a resume
    _write_log(directory / "logs/top_down/1-C2", "metrics.1.csv", [(0, 0.95, 0.6)])
    _write_log(directory / "logs/top_down/1-C2", "metrics.csv", [(1, 0.7, 0.75)])
    _write_log(directory / "logs/top_down/2-C1", "metrics.csv", [(0, 0.9, 0.7), (1, 1.0, 0.65)])
    (directory / "summary.json").write_text(json.dumps(SUMMARY))
    (directory / "graph.json").write_text(json.dumps(GRAPH))
    return directory


def test_metrics_of_a_resumed_run_are_merged_by_epoch(tmp_path):
    directory = _run_directory(tmp_path)
    epochs = read_metrics(directory / "logs/top_down/1-C2")
    assert sorted(epochs) == [0, 1]
    assert epochs[0]["valid/loss"] == 0.95 and epochs[1]["valid/loss"] == 0.7


def test_curves_png_is_written_and_non_empty(tmp_path):
    directory = _run_directory(tmp_path)
    path = write_curves(directory, SUMMARY["phases"], "report-test")
    assert path == directory / "curves.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_curves_need_validation_metrics(tmp_path):
    assert write_curves(tmp_path, SUMMARY["phases"]) is None
    assert not (tmp_path / "curves.png").exists()


def test_change_table_sums_units_top_first_and_marks_frozen_units():
    console = Console(record=True, width=120)
    console.print(change_table(SUMMARY, GRAPH))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "run" in line and "epochs" in line)
    assert header.index("out") < header.index("h2") < header.index("h1")
    joint = next(line for line in text.splitlines() if line.startswith("│ joint"))
    assert "300.0" in joint and "20.2" in joint and "1.5" in joint and "1→3" in joint  # older row
    attempt = next(line for line in text.splitlines() if "top_down/1-C2" in line)
    assert "0→2" in attempt
    attempt = next(line for line in text.splitlines() if "top_down/1-C2" in line)
    assert "–" in attempt and "5" in attempt and "4" in attempt


def test_report_command_prints_both_tables_and_draws_missing_curves(tmp_path, capsys):
    directory = _run_directory(tmp_path)
    assert main(["report", str(directory)]) == 0
    output = capsys.readouterr().out
    assert "Σ|Δθ|" in output and "top_down/2-C1" in output and "curves.png" in output
    assert (directory / "curves.png").stat().st_size > 0
    console = Console(record=True, width=120)
    render_report(console, directory, SUMMARY)
    table = console.export_text()
    rejected = next(line for line in table.splitlines() if "C1" in line and "│ 2 " in line)
    assert "no" in rejected


SPEC = dense_spec("tiny-change", 3, lr=0.3, repeat=2, units=8, cuts=False,
                  schedule=("{phase: joint, stop: {max_epochs: 4}}",),
                  trainer="{max_epochs: 4, limit_train_batches: 3}")


class _Recorder(Callback):
    def __init__(self):
        self.start: dict[str, torch.Tensor] = {}
        self.snapshots: list[dict[str, torch.Tensor]] = []
        self.losses: list[float] = []

    def on_train_start(self, trainer, module):
        self.start = {key: value.detach().clone()
                      for key, value in module.network.state_dict().items()}

    def on_train_epoch_end(self, trainer, module):
        self.snapshots.append(
            {key: value.detach().clone() for key, value in module.network.state_dict().items()}
        )
        self.losses.append(float(trainer.callback_metrics["valid/loss"]))


@pytest.mark.slow
def test_a_run_records_the_hand_computed_parameter_change_and_draws_curves(tmp_path, monkeypatch):
    from nndsl.run import session, train

    recorder = _Recorder()
    original = session.trainer_for
    monkeypatch.setattr(
        session,
        "trainer_for",
        lambda context, label, stop, callbacks: original(
            context, label, stop, [*callbacks, recorder]
        ),
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    result = train(str(spec), run_dir=str(tmp_path / "run"))
    row = result.summary["phases"][0]
    best = min(range(len(recorder.losses)), key=lambda epoch: recorder.losses[epoch])
    first, chosen = recorder.start, recorder.snapshots[best]
    expected = {}
    for layer, prefix in (("h1.linear", "layers.h1__linear."), ("h2.linear", "layers.h2__linear."),
                          ("out", "layers.out.")):
        expected[layer] = sum(
            float((chosen[key] - first[key]).abs().sum()) for key in first if key.startswith(prefix)
        )
    assert (row["change_from_epoch"], row["change_to_epoch"]) == (0, best + 1)
    assert row["parameter_change"] == pytest.approx(expected, rel=1e-6)
    assert expected["out"] > 0
    # The best epoch's weights are the ones the run kept.
    kept = torch.load(result.directory / "checkpoints/joint/state.pt")
    assert all(torch.equal(kept[key], chosen[key]) for key in chosen)
    progress = json.loads((result.directory / "progress.json").read_text())
    assert progress["runs"]["joint"]["row"]["parameter_change"]
    assert (result.directory / "curves.png").stat().st_size > 0


@pytest.mark.slow
def test_single_epoch_runs_report_what_they_changed(tmp_path):
    """Measured from the end of epoch 1, a one-epoch run (an online or adapt run) showed 0."""
    from nndsl.run import train

    spec = tmp_path / "spec.yaml"
    spec.write_text(dense_spec("one-epoch", 3, lr=0.3, repeat=2, units=8, cuts=False, schedule=(
        "{phase: joint, stop: {max_epochs: 1}}",
        "{phase: train, name: again, train: [out], stop: {max_epochs: 1}}"),
        trainer="{max_epochs: 1, limit_train_batches: 3}"))
    rows = train(str(spec), run_dir=str(tmp_path / "run")).summary["phases"]
    joint, again = rows
    assert (joint["change_from_epoch"], joint["change_to_epoch"]) == (0, 1)
    assert set(joint["parameter_change"]) == {"h1.linear", "h2.linear", "out"}
    assert all(change > 0 for change in joint["parameter_change"].values())
    assert list(again["parameter_change"]) == ["out"] and again["parameter_change"]["out"] > 0
