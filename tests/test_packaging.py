"""Packaging: every package folder is listed in pyproject.toml, and stdlib ships as package data."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "nndsl").rglob("__init__.py")
    }
    assert found - listed == set(), "add these packages to pyproject.toml"


def test_stdlib_is_reachable_through_importlib_resources():
    from importlib.resources import files

    names = {entry.name for entry in files("nndsl.stdlib").iterdir()}
    assert {"blocks", "presets", "schedules"} <= names
