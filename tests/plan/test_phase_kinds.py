"""Every phase kind of the language has its entry in each stage's dispatch table: the check
stage's references (cuts, selectors) and the plan stage's planner."""

from __future__ import annotations

from typing import get_args

from nndsl.check.references import PHASE_REFERENCES
from nndsl.plan.phases import PLANNERS
from nndsl.spec.schedule import PhaseSpec


def phase_kinds() -> set[type]:
    union, _discriminator = get_args(PhaseSpec)
    return set(get_args(union))


def test_every_phase_kind_is_checked_and_planned():
    kinds = phase_kinds()
    assert len(kinds) >= 4
    assert set(PHASE_REFERENCES) == kinds
    assert set(PLANNERS) == kinds
