"""The run stage executes the plan: per phase and per top-down attempt, what ran is what
`plan.json` says. Which layers received gradients (the planned trainable set), which were reset
to a fresh initialisation (the planned re-initialised set, with the planned seed: compared with a
re-initialisation made here), which stayed bit for bit (frozen); and each trial is kept exactly
when its score is strictly better than the score it had to beat, a rejected one leaving the
network bit-identical to what it was before the attempt.

One short run (CPU, fixed seed) whose full top-down search both accepts and rejects attempts.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from spec_texts import dense_spec

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.run import train
from nndsl.state_names import module_key

pytestmark = pytest.mark.slow

SPEC = dense_spec("plan-execution", 3, lr=0.5, schedule=(
    "{phase: joint, stop: {max_epochs: 1}}",
    "{phase: top_down, search: full, monitor: valid/loss, stop: {max_epochs: 2}}",
    "{phase: retrain_classifier, reinit: true, stop: {max_epochs: 1}}",
    "{phase: train, name: fix_bottom, freeze: [extractor:C1], reinit: [classifier:C2], "
    "stop: {max_epochs: 1}}"), trainer="{max_epochs: 2, limit_train_batches: 3}")

State = dict[str, torch.Tensor]


def _snapshot(network: torch.nn.Module) -> State:
    return {key: value.detach().clone() for key, value in network.state_dict().items()}


class _Recorder(Callback):
    """What one run did: the network when training starts (after any re-initialisation) and the
    layers whose parameters received a non-zero gradient."""

    def __init__(self, record: dict[str, Any]):
        self.record = record

    def on_train_start(self, trainer, module):
        self.record["start"] = _snapshot(module.network)
        self.record.setdefault("gradients", set())

    def on_after_backward(self, trainer, module):
        for layer in module.network.order:
            if any(parameter.grad is not None and parameter.grad.abs().sum() > 0
                   for _, parameter in module.network.layer_parameters(layer)):
                self.record["gradients"].add(layer)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The run directory, the summary, and per run label what the network was before, at the
    start of training and after the run (as the schedule left it)."""
    from nndsl.run import schedule, session

    folder = tmp_path_factory.mktemp("execution")
    (folder / "spec.yaml").write_text(SPEC)
    records: dict[str, dict[str, Any]] = {}
    original_step, original_trainer = schedule._step, session.trainer_for

    def step(context, progress, trial):
        record = records.setdefault(trial.run.label, {})
        record["before"] = _snapshot(context.network)
        row = original_step(context, progress, trial)
        record["after"] = _snapshot(context.network)
        return row

    def trainer_for(context, label, stop, callbacks):
        return original_trainer(context, label, stop,
                                [*callbacks, _Recorder(records.setdefault(label, {}))])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "_step", step)
        patch.setattr(session, "trainer_for", trainer_for)
        result = train(str(folder / "spec.yaml"), run_dir=str(folder / "run"), progress_bar=False)
    plan = json.loads((result.directory / "plan.json").read_text())
    return result, plan, records, folder / "spec.yaml"


def _keys(state: State, layer: str) -> list[str]:
    prefix = f"layers.{module_key(layer)}."
    return [key for key in state if key.startswith(prefix)]


def _planned_runs(
    plan: dict[str, Any],
) -> dict[tuple[str, str | None], tuple[dict[str, Any], dict[str, Any]]]:
    # retrain_classifier plans one run per cut the search may keep, all under one label.
    return {
        (run["label"], run["cut"]): (phase, run)
        for phase in plan["phases"]
        for run in phase["runs"]
    }


def test_the_plan_json_is_the_compiled_plan_and_lists_every_attempt(executed):
    _, plan, _, spec = executed
    assert plan == compile_spec(spec).plan.to_dict()
    top_down = plan["phases"][1]
    assert [run["label"] for run in top_down["runs"]] == ["top_down/1-C3", "top_down/2-C2",
                                                          "top_down/3-C1"]
    assert [run["cut"] for run in top_down["runs"]] == top_down["search"]["cuts"]
    assert top_down["accept"] == {"monitor": "valid/loss", "mode": "min"}


def test_every_run_trains_resets_and_freezes_exactly_the_planned_layers(executed):
    result, plan, records, spec = executed
    compiled = compile_spec(spec).raise_for_errors()
    planned = _planned_runs(plan)
    rows = result.summary["phases"]
    assert [row["run"] for row in rows] == ["joint", "top_down/1-C3", "top_down/2-C2",
                                            "top_down/3-C1", "retrain_classifier", "fix_bottom"]
    for row in rows:
        phase, run = planned[row["run"], row["cut"]]
        record = records[row["run"]]
        assert row["phase"] == phase["name"]
        with_parameters = {layer for layer in run["trainable"] if _keys(record["before"], layer)}
        assert record["gradients"] == with_parameters, row["run"]
        # The start of training is the state before the run with the planned layers reset, with
        # the planned seed, and nothing else touched.
        fresh = GraphModule(compiled.graph)
        fresh.load_state_dict(record["before"])
        fresh.reset_layers(tuple(run["reinitialised"]), run["seed"])
        expected = fresh.state_dict()
        assert all(torch.equal(record["start"][key], expected[key]) for key in expected), row["run"]
        for layer in run["reinitialised"]:
            assert all(not torch.equal(record["start"][key], record["before"][key])
                       for key in _keys(expected, layer)), (row["run"], layer)
        trained = torch.load(result.directory / "checkpoints" / row["run"] / "state.pt")
        for layer in run["frozen"]:
            assert all(
                torch.equal(trained[key], record["before"][key]) for key in _keys(trained, layer)
            )
        for layer in with_parameters:
            assert all(
                not torch.equal(trained[key], record["start"][key]) for key in _keys(trained, layer)
            )


def test_trials_are_kept_exactly_when_strictly_better_and_a_rejected_one_changes_nothing(executed):
    result, plan, records, _ = executed
    planned = _planned_runs(plan)
    baselines: dict[str, float] = {}
    outcomes = []
    for row in result.summary["phases"]:
        phase, run = planned[row["run"], row["cut"]]
        record = records[row["run"]]
        trained = torch.load(result.directory / "checkpoints" / row["run"] / "state.pt")
        if phase["accept"] is None:
            assert row["accepted"] is True
            continue
        assert phase["accept"]["mode"] == "min" and row["monitor"] == phase["accept"]["monitor"]
        # The score to beat: the phase's starting score, then that of the attempt kept last.
        expected_baseline = baselines.get(phase["name"], row["baseline"])
        assert row["baseline"] == expected_baseline
        assert row["accepted"] == (row["best"] < row["baseline"]), row
        outcomes.append(row["accepted"])
        if row["accepted"]:
            baselines[phase["name"]] = row["best"]
            assert all(torch.equal(record["after"][key], trained[key]) for key in trained)
        else:
            assert all(
                torch.equal(record["after"][key], record["before"][key]) for key in record["before"]
            )
    # Not vacuous: this seed's search keeps some attempts and undoes others.
    assert True in outcomes and False in outcomes
    accepted = [row for row in result.summary["phases"] if row["attempt"] and row["accepted"]]
    assert result.summary["phases"][4]["cut"] == accepted[-1]["cut"]
