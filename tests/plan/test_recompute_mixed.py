"""The fast BPTT-MSM programme against the straightforward one it replaced: same costs, same
pushes, same schedules (recompute_mixed vs recompute_reference)."""

from __future__ import annotations

from unittest import mock

import pytest

from nndsl.plan.memory import recompute
from nndsl.plan.memory.recompute_mixed import MixedCosts, MixedTable, clear_mixed_tables, mixed_table
from oracles.recompute_reference import ReferenceMixedCosts
from nndsl.plan.memory.recompute_rows import INFINITE, RowShape

ALPHA_BETA = [(1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (5, 4), (5, 5), (7, 7)]


def reference_table(length: int, memory: int, alpha: int, beta: int) -> ReferenceMixedCosts:
    """The reference programme's full table, built even where the lower bound certifies."""
    reference = ReferenceMixedCosts.__new__(ReferenceMixedCosts)
    reference.sequence_length, reference.memory = length, memory
    reference.alpha, reference.beta = alpha, beta
    reference._rows, reference._pushes = {}, {}
    reference._solve()
    return reference


def fast_costs(table: MixedTable) -> MixedCosts:
    costs = MixedCosts.__new__(MixedCosts)
    costs.alpha, costs.beta, costs._table = table.alpha, table.beta, table
    return costs


@pytest.mark.parametrize("alpha,beta", ALPHA_BETA)
def test_every_cost_and_push_equals_the_reference(alpha, beta):
    for length in (1, 2, 3, 5, 8, 13, 30):
        for memory in range(1, beta * length + 3):
            reference = reference_table(length, memory, alpha, beta)
            table = MixedTable(alpha, beta)
            table.ensure(length, memory)
            fast = fast_costs(table)
            for units, row in reference._rows.items():
                assert table.rows[units][:len(row)] == row, (length, memory, units)
                for t in range(1, len(row)):
                    assert fast.first_push(t, units) == reference.first_push(t, units), (
                        length, memory, t, units)


@pytest.mark.parametrize("alpha,beta", [(2, 2), (3, 3), (5, 5), (5, 4)])
def test_larger_tables_equal_the_reference(alpha, beta):
    length, memory = 160, 12 * alpha
    reference = reference_table(length, memory, alpha, beta)
    table = MixedTable(alpha, beta)
    table.ensure(length, memory)
    fast = fast_costs(table)
    for units, row in reference._rows.items():
        assert table.rows[units][:len(row)] == row, units
        for t in range(1, len(row), 7):
            assert fast.first_push(t, units) == reference.first_push(t, units), (t, units)


def test_shared_table_grows_to_the_same_values():
    clear_mixed_tables()
    grown = mixed_table(40, 12, 3, 3)
    mixed_table(90, 30, 3, 3)  # longer and larger: rows extended, new rows added
    assert mixed_table(90, 30, 3, 3) is grown
    fresh = MixedTable(3, 3)
    fresh.ensure(90, 30)
    for units in range(1, 31):
        common = min(len(fresh.rows[units]), len(grown.rows[units]))
        assert grown.rows[units][:common] == fresh.rows[units][:common]
        assert grown.kinks[units] == fresh.kinks[units][:len(grown.kinks[units])] or \
            fresh.kinks[units] == grown.kinks[units][:len(fresh.kinks[units])]


@pytest.mark.parametrize("length,alpha,beta", [(60, 3, 3), (120, 5, 5), (80, 5, 4), (200, 2, 2)])
def test_schedules_equal_those_of_the_reference(length, alpha, beta):
    for memory in range(1, beta * length, max(1, length // 15)):
        fast = recompute._plan.__wrapped__(length, memory, "optimal", alpha, beta)
        with mock.patch.object(recompute, "MixedCosts", ReferenceMixedCosts):
            slow = recompute._plan.__wrapped__(length, memory, "optimal", alpha, beta)
        assert fast == slow, memory


@pytest.mark.slow
def test_paper_size_schedule_equals_the_reference():
    # t = 1000 at 1% of plain BPTT (alpha = 5): not certified, the table runs.
    fast = recompute._plan.__wrapped__(1000, 45, "optimal", 5, 5)
    with mock.patch.object(recompute, "MixedCosts", ReferenceMixedCosts):
        slow = recompute._plan.__wrapped__(1000, 45, "optimal", 5, 5)
    assert fast == slow and fast.predicted_forward_steps == 2773


def test_long_sequences_plan_without_deep_recursion():
    schedule = recompute.plan_recompute(2500, 25, "optimal", 5)
    assert schedule.predicted_forward_steps > 2500
    assert recompute.plan_recompute(3000, 3, "hidden", 5).actions[-1].kind == "backward"


@pytest.mark.parametrize("alpha,beta", [(1, 1), (2, 1), (3, 2), (4, 4)])
def test_rows_over_dense_and_beta_rows_equal_the_reference(alpha, beta):
    # alpha = 1 or beta < alpha: the rows read below include row 1 (a kink at every t) twice.
    length, memory = 120, 10 * alpha + 3
    reference = reference_table(length, memory, alpha, beta)
    table = MixedTable(alpha, beta)
    table.ensure(length, memory)
    for units, row in reference._rows.items():
        assert table.rows[units][:len(row)] == row, units


def test_row_shape_answers_like_a_scan():
    table = MixedTable(5, 5)
    table.ensure(300, 40)
    for units in (1, 2, 6, 17, 39):
        row = table.rows[units]
        shape = RowShape(row, table.kinks[units])
        slopes = [None] + [row[u] - row[u - 1] for u in range(1, len(row))]
        for value in range(0, max(slopes[1:]) + 2):
            assert shape.last_at_most(value) == max(
                (u for u in range(1, len(row)) if slopes[u] <= value), default=0)
            assert shape.first_above(value) == min(
                (u for u in range(1, len(row)) if slopes[u] > value), default=INFINITE)
        for p in range(1, 8):
            for q in range(1, 8):
                assert shape.kinks_meeting(p, q) == [
                    (s, row[s]) for s in table.kinks[units]
                    if s + 1 < len(row) and slopes[s] <= p and slopes[s + 1] > q]


@pytest.mark.parametrize("first,then,alpha,beta", [
    ((50, 9), (140, 30), 3, 3), ((140, 8), (90, 26), 5, 4), ((20, 40), (150, 12), 2, 1)])
def test_rows_rebuilt_longer_equal_the_reference(first, then, alpha, beta):
    # A row asked for again with a longer length is rebuilt; rows above it are kept.
    table = MixedTable(alpha, beta)
    table.ensure(*first)
    table.ensure(*then)
    reference = reference_table(*then, alpha, beta)
    fast = fast_costs(table)
    for units, row in reference._rows.items():
        assert table.rows[units][:len(row)] == row, units
        for t in range(1, len(row), 5):
            assert fast.first_push(t, units) == reference.first_push(t, units), (t, units)
