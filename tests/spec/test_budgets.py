"""Spec stage: memory budgets as bytes or percentages."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from nndsl.spec.extras import MAX_BUDGET_BYTES, MemorySpec, parse_budget


@pytest.mark.parametrize("text, expected", [
    ("48 MiB", 48 * 2**20),
    ("48MiB", 48 * 2**20),
    ("2GB", 2 * 10**9),
    ("2 gb", 2 * 10**9),
    ("1.5 KiB", 1536),
    ("512", 512),
    ("512 b", 512),
    (50_000_000, 50_000_000),
    (1.5e9, 1.5e9),
    ("3 TiB", 3 * 2**40),
])
def test_byte_budgets_parse_to_bytes(text, expected):
    assert parse_budget(text) == float(expected)


@pytest.mark.parametrize("text, expected", [("5%", "5%"), (" 5 % ", "5%"), ("12.5%", "12.5%"),
                                            ("100%", "100%")])
def test_percentage_budgets_stay_shares(text, expected):
    assert parse_budget(text) == expected
    spec = MemorySpec(budget=text)
    assert spec.is_fraction and spec.fraction == pytest.approx(float(expected[:-1]) / 100)


@pytest.mark.parametrize("text, kind", [
    ("48 MegaBytes", "budget"), ("five", "budget"), ("90iB", "budget"), ("3 xb", "budget"), ("-3 MiB", "budget"), ("0", "budget"),
    ("0%", "budget"), ("101%", "budget"), (True, "budget"), ("9000 TiB", "size_too_large"),
    (float(MAX_BUDGET_BYTES) * 2, "size_too_large"),
])
def test_bad_budgets_are_refused(text, kind):
    with pytest.raises(PydanticCustomError) as caught:
        parse_budget(text)
    assert caught.value.type == kind


def test_memory_spec_keeps_bytes_and_its_policy():
    spec = MemorySpec(budget="48 MiB")
    assert not spec.is_fraction and spec.budget == 48 * 2**20 and spec.policy == "optimal"
