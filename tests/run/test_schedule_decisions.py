"""The schedule's acceptance rule, `better()`: strictly better in the monitor's direction, ties
rejected, a missing score never better and a missing reference always beaten."""

from __future__ import annotations

import pytest

from nndsl.run.schedule import better


@pytest.mark.parametrize(("score", "reference", "mode", "expected"), [
    (0.5, 0.6, "min", True),
    (0.7, 0.6, "min", False),
    (0.6, 0.6, "min", False),  # a tie is no improvement: the attempt is undone
    (0.7, 0.6, "max", True),
    (0.5, 0.6, "max", False),
    (0.6, 0.6, "max", False),
    (-1.0, 0.0, "min", True),
    (0.0, -1.0, "max", True),
    (None, 0.6, "min", False),
    (None, 0.6, "max", False),
    (None, None, "min", False),
    (0.6, None, "min", True),
    (0.6, None, "max", True),
    (float("nan"), 0.6, "min", False),  # a diverged attempt is never kept
    (float("nan"), 0.6, "max", False),
])
def test_better(score, reference, mode, expected):
    assert better(score, reference, mode) is expected


SPEC = """nndsl: 1
name: search
use: [std:blocks/dense]
data: {{source: digits}}
network:
  layers:
    - {{block: dense, repeat: 4, name: "h{{index}}", with: {{units: 8}}}}
    - {{name: out, type: linear, units: 10}}
loss: {{type: cross_entropy}}
optimizer: {{type: sgd, lr: 0.1}}
cuts: units
schedule:
  - {{phase: top_down, search: {search}}}
"""


def _search(monkeypatch, search: str, outcomes: dict[str, bool]) -> list[tuple[str, float]]:
    """The attempts a search makes (label, the score it had to beat) when the attempt at each cut
    is kept or not as `outcomes` says; an attempt's score is its number, counted down from 10."""
    from nndsl.api import compile_spec
    from nndsl.run import schedule

    (phase,) = compile_spec("spec.yaml", text=SPEC.format(search=search)).raise_for_errors().plan.phases
    made: list[tuple[str, float]] = []

    def step(context, progress, trial):
        run, attempt = trial.run, trial.attempt
        made.append((run.label, trial.baseline))
        assert trial.phase == phase
        assert attempt == len(made) and run.label.startswith(f"top_down/{attempt}-")
        return {"accepted": outcomes[run.cut], "best": 10.0 - attempt}

    monkeypatch.setattr(schedule, "_step", step)
    monkeypatch.setattr(schedule, "_baseline", lambda context, progress, phase, monitor: 100.0)
    rows = schedule.PHASE_RUNNERS[phase.kind](None, None, phase, 0)
    assert len(rows) == len(made)
    return made


def test_greedy_search_tries_cuts_from_the_top_until_one_helps_then_stops_at_the_first_that_does_not(
        monkeypatch):
    made = _search(monkeypatch, "greedy", {"C4": False, "C3": True, "C2": False, "C1": True})
    assert made == [("top_down/1-C4", 100.0), ("top_down/2-C3", 100.0), ("top_down/3-C2", 8.0)]
    made = _search(monkeypatch, "greedy", {"C4": True, "C3": True, "C2": True, "C1": False})
    assert made == [("top_down/1-C4", 100.0), ("top_down/2-C3", 9.0), ("top_down/3-C2", 8.0),
                    ("top_down/4-C1", 7.0)]


def test_full_search_goes_on_past_a_failure_after_an_acceptance(monkeypatch):
    made = _search(monkeypatch, "full", {"C4": False, "C3": True, "C2": False, "C1": True})
    assert made == [("top_down/1-C4", 100.0), ("top_down/2-C3", 100.0), ("top_down/3-C2", 8.0),
                    ("top_down/4-C1", 8.0)]


def test_every_planned_phase_kind_has_a_runner():
    """The run stage dispatches on the plan's phase kinds; a kind the plan can hand it without a
    runner would stop a schedule half-way. gradual_unfreeze never reaches it: the plan expands it
    into train phases."""
    from typing import get_args

    from nndsl.run.schedule import PHASE_RUNNERS
    from nndsl.spec.schedule import PhaseSpec

    union, _discriminator = get_args(PhaseSpec)
    kinds = {get_args(kind.model_fields["phase"].annotation)[0] for kind in get_args(union)}
    assert "top_down" in kinds and "gradual_unfreeze" in kinds
    assert set(PHASE_RUNNERS) == kinds - {"gradual_unfreeze"}
