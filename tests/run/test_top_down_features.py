"""Schedule features around top-down training: retrain_classifier, the paper's "freeze the bottom
layer, retrain the top" control, classifier_from (one checkpoint or a set), and their checks."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from spec_texts import dense_spec

from nndsl.api import compile_spec
from nndsl.backend.classifier_set import ClassifierSet, RepeatTargets
from nndsl.backend.graph_module import GraphModule
from nndsl.plan.checkpoint_shapes import CheckpointRefused, checkpoint_shapes
from nndsl.run import train

TRAINER = "{max_epochs: 2, limit_train_batches: 3}"
HEAD = dense_spec("features", 4, lr=0.1, trainer=TRAINER)


def _spec(tmp_path: Path, schedule: str, head: str = HEAD) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(head + "schedule:\n" + schedule)
    return path


def _layer(state: dict[str, torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    prefix = f"layers.{layer.replace('.', '__')}."
    return {key: value for key, value in state.items() if key.startswith(prefix)}


def _equal(first, second, layer) -> bool:
    a, b = _layer(first, layer), _layer(second, layer)
    assert a and a.keys() == b.keys()
    return all(torch.equal(a[key], b[key]) for key in a)


EXTRACTOR_C1, CLASSIFIER_C1 = ("h1.linear",), ("h2.linear", "h3.linear", "out")


def _state(directory: Path, run: str) -> dict[str, torch.Tensor]:
    return torch.load(directory / "checkpoints" / run / "state.pt")


@pytest.mark.slow
def test_freeze_bottom_retrain_top_control_keeps_the_bottom_bit_for_bit(tmp_path):
    spec = _spec(
        tmp_path,
        "  - {phase: joint}\n"
        "  - {phase: train, name: fix_bottom, freeze: [extractor:C1], reinit: [classifier:C1]}\n",
    )
    result = train(str(spec), run_dir=str(tmp_path / "run"))
    joint, control = _state(result.directory, "joint"), _state(result.directory, "fix_bottom")
    assert _equal(joint, control, "h1.linear")
    assert not any(_equal(joint, control, layer) for layer in CLASSIFIER_C1)
    assert [row["run"] for row in result.summary["phases"]] == ["joint", "fix_bottom"]


@pytest.mark.slow
def test_retrain_classifier_freezes_the_extractor_of_the_cut_accepted_last(tmp_path):
    spec = _spec(tmp_path, "  - {phase: joint}\n"
                           "  - {phase: top_down, search: greedy, stop: {max_epochs: 2}}\n"
                           "  - {phase: retrain_classifier, reinit: true}\n")
    result = train(str(spec), run_dir=str(tmp_path / "run"))
    rows = result.summary["phases"]
    accepted = [row for row in rows if row["attempt"] and row["accepted"]]
    before_run = accepted[-1]["run"] if accepted else "joint"
    expected_cut = accepted[-1]["cut"] if accepted else "C3"  # the search's first cut otherwise
    retrain = rows[-1]
    assert retrain["phase"] == "retrain_classifier" and retrain["cut"] == expected_cut
    assert retrain["baseline"] is not None and isinstance(retrain["accepted"], bool)
    cut = compile_spec(spec).plan.cut(expected_cut)
    before, after = (
        _state(result.directory, before_run),
        _state(result.directory, "retrain_classifier"),
    )
    assert all(_equal(before, after, layer) for layer in cut.extractor if _layer(before, layer))
    assert not any(
        _equal(before, after, layer) for layer in cut.classifier if _layer(before, layer)
    )
    final = torch.load(result.directory / "final_weights.pt")
    assert all(torch.equal(final[key],
                           (after if retrain["accepted"] else before)[key]) for key in final)


def _checkpoint(tmp_path: Path, name: str, seed: int, head: str = HEAD) -> Path:
    """A network's weights as a run's final_weights.pt would hold them."""
    compiled = compile_spec(_spec(tmp_path, "  - {phase: joint}\n", head)).raise_for_errors()
    torch.manual_seed(seed)
    path = tmp_path / name
    torch.save(GraphModule(compiled.graph).state_dict(), path)
    return path


@pytest.mark.slow
def test_classifier_from_one_checkpoint_is_loaded_frozen_and_the_extractor_trains(tmp_path):
    teacher = _checkpoint(tmp_path, "teacher.pt", seed=99)
    spec = _spec(tmp_path, "  - {phase: top_down, first_cut: C2, last_cut: C2, "
                           f"classifier_from: [{teacher.name}]}}\n")
    result = train(str(spec), run_dir=str(tmp_path / "run"))
    (row,) = result.summary["phases"]
    assert row["cut"] == "C2" and row["classifier_from"] == [str(teacher.resolve())]
    loaded, after = torch.load(teacher), _state(result.directory, row["run"])
    assert _equal(loaded, after, "h3.linear") and _equal(loaded, after, "out")
    assert not _equal(loaded, after, "h1.linear") and not _equal(loaded, after, "h2.linear")
    assert set(row["parameter_change"]) == {"h1.linear", "h2.linear"}


@pytest.mark.slow
def test_classifier_from_a_set_trains_against_all_and_keeps_the_best(tmp_path):
    teachers = [_checkpoint(tmp_path, f"seed{seed}.pt", seed=seed) for seed in (1, 2)]
    spec = _spec(tmp_path, "  - {phase: joint}\n"
                           "  - {phase: top_down, first_cut: C3, last_cut: C3, "
                           f"classifier_from: [{teachers[0].name}, {teachers[1].name}]}}\n")
    result = train(str(spec), run_dir=str(tmp_path / "run"))
    row = result.summary["phases"][1]
    assert len(row["classifier_scores"]) == 2 and row["classifier"] in (0, 1)
    assert row["best"] == min(row["classifier_scores"])
    after = _state(result.directory, row["run"])
    assert _equal(torch.load(teachers[row["classifier"]]), after, "out")
    assert not _equal(torch.load(teachers[row["classifier"]]), after, "h1.linear")


def test_classifier_set_loss_is_the_mean_over_its_classifiers():
    torch.manual_seed(0)
    network = _TinyNetwork()
    other = {"layers.out.weight": torch.randn(3, 4), "layers.out.bias": torch.randn(3)}
    combined = ClassifierSet(network, [other])
    inputs, targets = torch.randn(5, 2), torch.tensor([0, 1, 2, 1, 0])
    output, lengths = combined(inputs)
    assert output.shape == (10, 3) and lengths is None
    batch = {"inputs": inputs, "targets": targets}
    RepeatTargets(2).on_train_batch_start(None, None, batch, 0)
    loss = torch.nn.functional.cross_entropy(output, batch["targets"])
    first = torch.nn.functional.cross_entropy(network(inputs)[0], targets)
    hidden = torch.tanh(network.layers["hidden"](inputs))
    second = torch.nn.functional.cross_entropy(
        hidden @ other["layers.out.weight"].T + other["layers.out.bias"], targets
    )
    assert torch.allclose(loss, (first + second) / 2)


class _TinyNetwork(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.order = ["hidden", "out"]
        self.layers = torch.nn.ModuleDict({"hidden": torch.nn.Linear(2, 4),
                                           "out": torch.nn.Linear(4, 3)})

    def layer(self, name):
        return self.layers[name]

    def forward(self, inputs, lengths=None):
        return self.layers["out"](torch.tanh(self.layers["hidden"](inputs))), lengths


def test_checkpoint_shapes_are_read_without_torch_and_match_torch(tmp_path):
    state = {"layers.out.0.weight": torch.zeros(10, 16), "layers.out.0.bias": torch.zeros(10),
             "layers.norm.running_mean": torch.zeros(3)}
    torch.save(state, tmp_path / "weights.pt")
    assert checkpoint_shapes(tmp_path / "weights.pt") == {
        key: tuple(value.shape) for key, value in state.items()
    }
    torch.save({"state_dict": {f"network.{key}": value for key, value in state.items()},
                "epoch": 3},
               tmp_path / "lightning.ckpt")
    assert checkpoint_shapes(tmp_path / "lightning.ckpt") == checkpoint_shapes(
        tmp_path / "weights.pt"
    )


class _Exploit:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['NNDSL_MARKER'], 'w').write('ran')",))


def test_reading_checkpoint_shapes_runs_no_code_from_the_file(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("NNDSL_MARKER", str(marker))
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"layers.out.0.weight": _Exploit()}))
    with pytest.raises(CheckpointRefused, match="builtins.exec"):
        checkpoint_shapes(tmp_path / "evil.pt")
    assert not marker.exists()


def _diagnostics(spec: Path):
    return compile_spec(spec).diagnostics


def test_a_classifier_checkpoint_of_the_wrong_shape_is_e414_at_its_entry(tmp_path):
    wide = dense_spec("features", 4, lr=0.1, units=32, trainer=TRAINER)
    wrong = _checkpoint(tmp_path, "wide.pt", seed=1, head=wide)
    spec = _spec(
        tmp_path,
        f"  - {{phase: joint}}\n  - {{phase: top_down, classifier_from: [{wrong.name}]}}\n",
    )
    (error,) = [item for item in _diagnostics(spec) if item.code == "E414"]
    assert (
        error.severity == "error"
        and "`out` holds 330 parameters, this network's holds 170" in error.message
    )
    lines = spec.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, start=1) if "classifier_from" in text)
    column = lines[line - 1].index("wide.pt") + 1
    assert (error.span.file, error.span.line, error.span.column) == (str(spec), line, column)


def test_a_checkpoint_without_the_classifier_layers_is_e414(tmp_path):
    torch.save({"layers.h1__linear.0.weight": torch.zeros(16, 64)}, tmp_path / "partial.pt")
    spec = _spec(tmp_path, "  - {phase: top_down, classifier_from: [partial.pt]}\n")
    (error,) = [item for item in _diagnostics(spec) if item.code == "E414"]
    assert "has no layer `out`" in error.message


def test_a_missing_classifier_checkpoint_is_a_warning_at_validation_and_an_error_at_training(
    tmp_path,
):
    spec = _spec(tmp_path,
                 "  - {phase: top_down, classifier_from: [runs/teacher/final_weights.pt]}\n")
    compiled = compile_spec(spec)
    assert compiled.ok and [(item.code, item.severity) for item in compiled.diagnostics] == [
        ("E414", "warning")
    ]
    from nndsl.diagnostics import SpecError

    with pytest.raises(SpecError, match="does not exist"):
        train(str(spec), run_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run/checkpoints").exists()


@pytest.mark.parametrize("schedule, code", [
    # no cut, no top_down before it
    ("  - {phase: joint}\n  - {phase: retrain_classifier}\n", "E411"),
    ("  - {phase: retrain_classifier, cut: C9}\n", "E403"),
    ("  - {phase: train, freeze: [extractor:C1], reinit: [nothing*]}\n", "E404"),
    ("  - {phase: train, train: [type:dropout]}\n", "E405"),
])
def test_schedule_errors(tmp_path, schedule, code):
    assert code in [item.code for item in _diagnostics(_spec(tmp_path, schedule))]


def test_the_control_and_retrain_classifier_plans(tmp_path):
    spec = _spec(tmp_path, "  - {phase: joint}\n"
                           "  - {phase: top_down}\n"
                           "  - {phase: retrain_classifier}\n"
                           "  - {phase: train, freeze: [extractor:C1], reinit: [classifier:C1]}\n")
    plan = compile_spec(spec).plan
    retrain, control = plan.phases[2], plan.phases[3]
    assert (
        retrain.cut is None
        and retrain.trainable.names == ("out",)
        and retrain.reinitialised.names == ()
    )
    assert control.frozen.names == ("h1.linear", "h1.dropout")
    assert (
        control.reinitialised.names
        == control.trainable.names
        == ("h2.linear", "h2.dropout", "h3.linear", "h3.dropout", "out")
    )


def test_a_classifier_checkpoint_given_by_set_is_relative_to_the_working_directory(
    tmp_path, monkeypatch
):
    (tmp_path / "specs").mkdir()
    spec = _spec(tmp_path / "specs", "  - {phase: joint}\n  - {phase: top_down, first_cut: C3}\n")
    teacher = _checkpoint(tmp_path, "teacher.pt", seed=5)
    monkeypatch.chdir(tmp_path)
    compiled = compile_spec(spec, ["schedule.1.classifier_from=[teacher.pt]"])
    assert compiled.ok and compiled.diagnostics == ()
    assert compiled.plan.phases[1].search.classifier_from == (str(teacher.resolve()),)
