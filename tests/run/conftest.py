"""Shared fixtures of the end-to-end training tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The test networks are tiny: torch's intra-op threads only wait on each other, badly so on a
    busy machine (a top-down run took 16 s with two threads and 4 s with one, same results).
    Module scope, so that module-scoped runs (reference runs shared by a file's tests) get it too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
