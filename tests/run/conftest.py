"""Shared fixtures of the end-to-end training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def single_threaded(one_thread):
    """Every training test runs with one torch thread (tests/conftest.py says why)."""
    yield
