"""Payloads for the untrusted-input tests: each one, if nndsl ever ran it, would create a marker
file; the tests assert that the marker never appears."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest


class MarkerPayload:
    """Unpickling this runs `exec`, which creates the marker file (what an attacker's code would
    do in its place)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.fixture()
def marker(tmp_path: Path) -> Path:
    """Where a payload would leave its mark; asserted absent after each test."""
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "a payload ran"


@pytest.fixture()
def hostile_torch_file(marker: Path):
    """Writes a `torch.save` file (zip format) whose pickle runs code when loaded without
    weights_only: `hostile_torch_file(path)`."""
    import torch

    def write(path: Path) -> Path:
        torch.save({"state_dict": {"network.layers.out.0.weight": MarkerPayload(marker)}}, path)
        return path

    return write


@pytest.fixture()
def hostile_legacy_pickle(marker: Path):
    """Writes a bare pickle (torch's legacy format) that runs code when unpickled."""

    def write(path: Path) -> Path:
        path.write_bytes(pickle.dumps(MarkerPayload(marker)))
        return path

    return write
