"""Data stage: finding and opening the files of the `arrow` source through the `datasets`
library, local files only (`HF_DATASETS_OFFLINE=1` is set before the library is imported).

In: the source's `path` (a `save_to_disk` folder, a Parquet file, a folder of them or a glob)
relative to the spec file's directory. Out: `load_arrow`, the whole data set memory-mapped,
for training (Parquet is converted once into an Arrow cache, in a separate process so that the
conversion's memory stays out of the trainer's); `peek_arrow`,
for validation: a saved data set as is, but of Parquet files only their metadata (the row
count), their first rows and, when the classes must be counted, the target column, so
validating never converts a large Parquet data set.

Where the conversion is cached: nndsl's cache folder, `$XDG_CACHE_HOME/nndsl/arrow` or
`~/.cache/nndsl/arrow` (`arrow_cache_directory`), beside the `spoken_words` corpus; a user who
sets `HF_DATASETS_CACHE` gets the library's own cache there instead. Deleting the folder costs
only a conversion at the next training run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nndsl.data.registry import DataSourceError

PEEK_ROWS = 256


def datasets_library() -> Any:
    """The `datasets` module, offline and without progress bars (a DataSourceError when it is
    not installed)."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"  # before the import: the library reads it once
    try:
        import datasets
    except ImportError:
        raise DataSourceError("the arrow source needs the `datasets` library", "path",
                              "pip install datasets") from None
    datasets.disable_progress_bars()
    return datasets


def arrow_cache_directory() -> str | None:
    """The folder Parquet conversions are cached in, or None to leave it to `datasets` (the
    user set `HF_DATASETS_CACHE`)."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(cache / "nndsl" / "arrow")


def locate(path: str, base_directory: Path) -> tuple[Path | None, list[Path]]:
    """(a save_to_disk folder, or None) and the Parquet files at `path` (a folder, a file or a
    glob, relative to `base_directory`); E498 when there is neither."""
    location = base_directory / Path(path).expanduser()
    if (location / "dataset_info.json").is_file() or (location / "state.json").is_file():
        return location, []
    files = (sorted(location.glob("*.parquet")) if location.is_dir() else
             [location] if location.is_file() else sorted(location.parent.glob(location.name)))
    files = [file for file in files if file.suffix == ".parquet"]
    if not files:
        raise DataSourceError(f"{path!r} is neither a folder written by save_to_disk nor "
                              f"Parquet files (looked at {location.resolve()})", "path",
                              "give a save_to_disk folder, a .parquet file, a folder of them or "
                              "a glob such as data/*.parquet", code="E498")
    return None, files


def _unreadable(file: Path, error: Exception) -> DataSourceError:
    return DataSourceError(f"{file}: cannot read the Parquet data ({error})", "path",
                           "check that the files are complete Parquet files", code="E498")


def load_arrow(params: Any, base_directory: Path) -> Any:
    """The `datasets.Dataset` at `params.path`, memory-mapped.

    Raises:
        DataSourceError: the library is missing (E412), or the path holds neither a saved data
            set nor readable Parquet files (E498).
    """
    saved, files = locate(params.path, base_directory)
    datasets = datasets_library()
    if saved is not None:
        return _load_saved(datasets, saved)
    names = [str(file) for file in files]
    cache = arrow_cache_directory()
    _convert_apart(names, cache)
    try:
        return datasets.load_dataset("parquet", data_files=names, split="train", cache_dir=cache)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise _unreadable(files[0], error) from None


def _load_saved(datasets: Any, saved: Path) -> Any:
    """`load_from_disk`, E498 naming the folder when its files cannot be read."""
    try:
        return datasets.load_from_disk(str(saved))
    except Exception as error:  # noqa: BLE001 - pyarrow and the library raise several types
        raise DataSourceError(f"{saved}: cannot read the saved data set ({error})", "path",
                              "its Arrow files are incomplete or damaged (an interrupted save or "
                              "copy); save it again with save_to_disk", code="E498") from None


def _parquet_file(parquet: Any, file: Path) -> Any:
    """An open `ParquetFile`, E498 naming `file` when it cannot be read (a truncated file)."""
    try:
        return parquet.ParquetFile(file)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise _unreadable(file, error) from None


def _convert_apart(files: list[str], cache: str | None) -> None:
    """Let a separate process convert the Parquet files into the Arrow cache `cache` (None: the
    library's; a no-op when it is built): the conversion's memory grows with the files, and it
    would otherwise stay in the training process's peak. A failure here is reported by the load
    that follows."""
    import subprocess
    import sys

    script = ("import os, sys; os.environ['HF_DATASETS_OFFLINE'] = '1'; import datasets; "
              "datasets.disable_progress_bars(); "
              "datasets.load_dataset('parquet', data_files=sys.argv[2:], split='train', "
              "cache_dir=sys.argv[1] or None)")
    subprocess.run([sys.executable, "-c", script, cache or "", *files], capture_output=True,
                   check=False)


def peek_arrow(params: Any, base_directory: Path) -> tuple[Any, int, Any]:
    """(a data set of the first rows or the whole saved set, the row count, the whole target
    column when Parquet classes must be counted, else None)."""
    saved, files = locate(params.path, base_directory)
    if saved is not None:
        dataset = _load_saved(datasets_library(), saved)
        return dataset, len(dataset), None
    import pyarrow as arrow  # pyarrow alone: importing `datasets` would double validation time
    from pyarrow import parquet

    try:
        readers = [_parquet_file(parquet, file) for file in files]
        _check_same_columns(params, files, readers)
        count = sum(reader.metadata.num_rows for reader in readers)
        first = next(readers[0].iter_batches(batch_size=PEEK_ROWS), None)
        table = (arrow.Table.from_batches([first]) if first is not None
                 else readers[0].schema_arrow.empty_table())
        targets = None
        if params.num_classes is None and params.targets_column in table.column_names:
            targets = arrow.concat_tables(
                [reader.read(columns=[params.targets_column]) for reader in readers]
            ).column(0)
    except DataSourceError:  # a column missing from one of the files
        raise
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise _unreadable(files[0], error) from None
    return TableView(table), count, targets


def _check_same_columns(params: Any, files: list[Path], readers: list[Any]) -> None:
    """E493 for a Parquet file that lacks a named column the first file has (the first file's
    own columns are checked with the data set's, with a "did you mean")."""
    first = set(readers[0].schema_arrow.names)
    for field in ("inputs_column", "targets_column", "input_lengths_column"):
        name = getattr(params, field)
        if name is None or name not in first:
            continue
        for file, reader in zip(files[1:], readers[1:]):
            if name not in reader.schema_arrow.names:
                raise DataSourceError(f"{file} has no column {name!r}, which {files[0].name} has "
                                      f"(its columns: {', '.join(reader.schema_arrow.names)})",
                                      field, "every Parquet file of a data set needs the same "
                                      "columns; rewrite that file or leave it out of `path`",
                                      code="E493")


class TableView:
    """The part of a `datasets.Dataset` the checks read, over a plain Arrow table."""

    def __init__(self, table: Any) -> None:
        self.table, self.data = table, self  # `dataset.data.table` is the Arrow table
        self.column_names = table.column_names
        self._indices = None

    def __len__(self) -> int:
        return self.table.num_rows
