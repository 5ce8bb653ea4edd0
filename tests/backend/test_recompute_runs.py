"""The recompute executor back-propagates each run of chained kept cores in one autograd call
(the gradients themselves are compared with plain BPTT in test_recompute_executor.py)."""

from __future__ import annotations

import pytest
import torch

from nndsl.backend.recompute import direction
from nndsl.backend.recompute.direction import chained_steps
from nndsl.backend.recompute.layer import RecomputedRecurrent
from nndsl.plan.memory.recompute import plan_recompute
from nndsl.plan.plan import RecomputeAction

pytestmark = pytest.mark.usefixtures("one_thread")


def _backward_runs(actions: tuple[RecomputeAction, ...]) -> int:
    """Runs of backward actions for steps k, k - 1, ... directly after one another."""
    return sum(1 for previous, action in zip((None, *actions), actions)
               if action.kind == "backward" and not (
                   previous is not None and previous.kind == "backward"
                   and previous.stop == action.stop + 1))


def test_chained_steps_are_those_whose_backward_comes_right_before_the_previous_steps() -> None:
    actions = (RecomputeAction("keep", 0, 1), RecomputeAction("keep", 1, 2),
               RecomputeAction("keep", 2, 3), RecomputeAction("backward", 2, 3),
               RecomputeAction("backward", 1, 2), RecomputeAction("forward", 0, 0),
               RecomputeAction("backward", 0, 1))
    assert chained_steps(actions) == {3}
    plain = plan_recompute(6, 200, "none", 5).actions
    assert chained_steps(plain) == {2, 3, 4, 5, 6}


@pytest.mark.parametrize("policy,memory", [("none", 200), ("optimal", 12), ("sqrt", 60),
                                           ("hidden", 3)])
def test_one_autograd_call_per_run_of_chained_cores(monkeypatch, policy: str,
                                                    memory: int) -> None:
    schedule = plan_recompute(17, memory, policy, 5)  # type: ignore[arg-type]
    torch.manual_seed(0)
    layer = RecomputedRecurrent("lstm", 3, 4, schedule)
    calls = []
    original = torch.autograd.backward

    def counting(*arguments, **options):
        calls.append(1)
        return original(*arguments, **options)

    monkeypatch.setattr(direction.torch.autograd, "backward", counting)
    inputs = torch.randn(2, 17, 3, requires_grad=True)
    outputs, _ = layer(inputs)
    calls.clear()
    outputs.sum().backward()  # itself one call, through the patched function
    expected = _backward_runs(schedule.actions)
    assert len(calls) - 1 == expected
    if policy == "none":
        assert expected == 1  # every core kept: the whole sequence in one call
    assert inputs.grad is not None and all(cell.weight_hh.grad is not None
                                           for cell in layer.cells)
