"""`nndsl show` prints the data's size on disk and the training batches per epoch, and its
planned count is the count the training data module runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nndsl.api import compile_spec
from nndsl.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.mark.parametrize("name", [
    "lazy_npy_speakers",
    pytest.param("lazy_kaldi_speakers", marks=pytest.mark.slow),
    pytest.param("lazy_parquet_speakers", marks=pytest.mark.slow),
    pytest.param("quickstart", marks=pytest.mark.slow)])
def test_show_plans_the_batches_training_runs(name, capsys):
    from nndsl.backend.data_choice import open_data_module
    from nndsl.data.registry import DATA_SOURCES

    path = SPECS / f"{name}.yaml"
    assert main(["show", str(path)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    planned = re.search(r"(\d+) training batches per epoch", printed)
    assert planned, printed[:400]
    if name != "quickstart":  # digits are generated: no files
        assert re.search(r"\d+\.\d KB on disk", printed)
    spec = compile_spec(path).spec
    seed = spec.data.seed if spec.data.seed is not None else spec.seed
    module = open_data_module(DATA_SOURCES.get(spec.data.source), spec.data, path.parent, seed)
    assert int(planned[1]) == len(module.train_dataloader())
