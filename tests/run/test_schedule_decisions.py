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
])
def test_better(score, reference, mode, expected):
    assert better(score, reference, mode) is expected
