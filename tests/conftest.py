"""Shared pytest options and fixtures.

Spec texts and compile helpers shared by the stage tests live in `spec_texts.py` beside this
file (a module, so that tests can import them by name; fixtures serve what needs set-up and
tear-down).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def datasets_cache_in_tmp(tmp_path_factory):
    """The Hugging Face `datasets` caches (Parquet conversions, lock files) under the session's
    tmp folder: tests write nothing outside tmp. Set in the environment, before any test imports
    the library (it reads them once), so that the processes tests start inherit it too."""
    folder = tmp_path_factory.mktemp("huggingface")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(folder))
        patch.setenv("HF_DATASETS_CACHE", str(folder / "datasets"))
        yield folder


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/golden/expected/*.json from the current compiler output")


@pytest.fixture(scope="module")
def one_thread():
    """torch limited to one intra-op thread for a test module, restored afterwards.

    The test networks are tiny: torch's threads only wait on each other, badly so on a busy
    machine (a top-down run took 16 s with two threads and 4 s with one, same results; a small
    ensemble step twenty times longer). Module scope, so that module-scoped runs shared by a
    file's tests get it too. Use it with `pytestmark = pytest.mark.usefixtures("one_thread")`,
    or by argument. torch is imported here, not at the top, so front-end tests never load it.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
