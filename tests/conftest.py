"""Shared pytest options."""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/golden/expected/*.json from the current compiler output")
