"""Where the `arrow` source caches its Parquet conversion: nndsl's cache folder (beside the
spoken corpus), not the Hugging Face default under the home folder; a user's explicit
`HF_DATASETS_CACHE` is honoured."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pyarrow as arrow
from pyarrow import parquet

from nndsl.data.arrow_files import arrow_cache_directory, load_arrow


def _write_parquet(file: Path) -> None:
    table = arrow.table({"inputs": arrow.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
                         "targets": arrow.array([0, 1, 0])})
    parquet.write_table(table, file)


def test_the_conversion_is_cached_in_nndsls_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _write_parquet(tmp_path / "part.parquet")
    dataset = load_arrow(SimpleNamespace(path="part.parquet"), tmp_path)
    assert dataset["targets"] == [0, 1, 0]
    folder = tmp_path / "cache" / "nndsl" / "arrow"
    assert arrow_cache_directory() == str(folder)
    cached = [Path(file["filename"]) for file in dataset.cache_files]
    assert cached and all(folder in file.parents for file in cached)


def test_an_explicit_datasets_cache_is_left_to_the_library(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    assert arrow_cache_directory() is None
