"""Data stage: the `arrow` source, Arrow and Parquet data sets through the Hugging Face `datasets`
library, from local files only, read a batch at a time from the memory-mapped Arrow table.

In: `path`, either a folder written by `Dataset.save_to_disk` (opened with `load_from_disk`,
memory-mapped in place) or a Parquet file, folder of Parquet files or glob (opened with
`load_dataset("parquet", ...)`, which converts it once into the library's Arrow cache and maps
that); and the names of the columns holding the inputs, the targets and, optionally, the input
lengths. Nothing is ever downloaded: `HF_DATASETS_OFFLINE=1` is set before the library loads.

Columns: inputs are a list of numbers per row (dense, all rows the same length) or a list of
frames, each a list of numbers (variable-length sequences; their lengths come from the list
offsets, or from `input_lengths_column`). Targets are an integer per row (a class), a list of
integers (a label sequence, for CTC; blank 0), or numbers (regression). Checked without reading
the features: column names (E493), types and shapes of a bounded sample (E494), labels of a
bounded sample at validation and of the whole target column when training starts (E495).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.arrow_files import load_arrow, locate, peek_arrow
from nndsl.data.file_checks import FileStamps
from nndsl.data.lazy_store import Example, ExampleStore, cut_example
from nndsl.data.registry import DataArrays, DataSignature, DataSourceError, data_source

SAMPLE_ROWS = 256
ROWS_PER_RELEASE = 8  # rows copied out of the maps between two releases of their pages


class ArrowParams(BaseModel):
    """Keys of `data:` for `source: arrow` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    path: str = Field(description="a save_to_disk folder, or Parquet file(s) (a file, folder or "
                      "glob), relative to the spec file")
    inputs_column: str = Field("inputs", description="the column of inputs: numbers, or a list "
                               "of frames per row")
    targets_column: str = Field("targets", description="the column of targets: a class, a list "
                                "of labels (CTC) or numbers")
    input_lengths_column: str | None = Field(None, description="valid frames per row; default: "
                                             "each row's number of frames")
    task: Literal["auto", "class", "label_sequence", "regression"] = Field(
        "auto", description="auto: class for integer targets, label_sequence for lists of "
        "integers, else regression")
    num_classes: int | None = Field(None, ge=1, description="classes (CTC: labels including "
                                    "the blank); default: largest label + 1")
    lazy: bool = Field(True, description="read a batch at a time from the memory-mapped files; "
                       "false loads the whole set into memory before training")


def _column(dataset: Any, params: ArrowParams, field: str) -> Any:
    """The named column of the Arrow table, E493 with "did you mean" when it is missing."""
    from nndsl.data.files import closest

    name = getattr(params, field)
    if name not in dataset.column_names:
        raise DataSourceError(f"{params.path!r} has no column {name!r}", field,
                              closest(name, list(dataset.column_names)), code="E493")
    return dataset.data.table.column(name)


def column_kind(column: Any) -> tuple[int, str]:
    """(list depth, numpy kind of the leaf values) of an Arrow column's type."""
    import pyarrow as pa

    kind, depth = column.type, 0
    while pa.types.is_list(kind) or pa.types.is_large_list(kind) \
            or pa.types.is_fixed_size_list(kind):
        kind, depth = kind.value_type, depth + 1
    leaf = ("b" if pa.types.is_boolean(kind) else "i" if pa.types.is_integer(kind) else
            "f" if pa.types.is_floating(kind) else "?")
    return depth, leaf


def flat_rows(column: Any) -> tuple[Any, Any]:
    """A list column's leaf values as one numpy array and each row's count of top-level items."""
    from pyarrow import compute

    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    lengths = compute.list_value_length(array).to_numpy(zero_copy_only=False)
    values = array.flatten()
    while hasattr(values, "flatten") and values.type.num_fields:  # nested lists: to the leaves
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False), lengths


class ArrowLayout:
    """What the columns' types and a bounded sample say (task, shapes, lengths)."""

    def __init__(self, params: ArrowParams, dataset: Any, count: int | None = None) -> None:
        import numpy as np

        self.count = len(dataset) if count is None else count
        if self.count == 0:
            raise DataSourceError(f"{params.path!r} has no rows", "path", "add examples",
                                  code="E494")
        inputs = _column(dataset, params, "inputs_column")
        targets = _column(dataset, params, "targets_column")
        depth, leaf = column_kind(inputs)
        if depth not in (1, 2) or leaf not in "bif":
            raise DataSourceError(f"column {params.inputs_column!r} has type {inputs.type}; "
                                  "inputs must be a list of numbers per row, or a list of "
                                  "frames of numbers", "inputs_column", "store features as "
                                  "lists of floats", code="E494")
        self.sequence = depth == 2
        sample = inputs.slice(0, min(SAMPLE_ROWS, self.count))
        values, outer = flat_rows(sample)
        if self.sequence:
            frames = flat_rows(sample.combine_chunks().flatten())[1]
            widths = set(frames.tolist())
            self.input_shape: tuple = ("T", int(frames[0]) if len(frames) else 0)
        else:
            widths = set(outer.tolist())
            self.input_shape = (int(outer[0]),)
        if len(widths) != 1:
            what = "frames" if self.sequence else "rows"
            raise DataSourceError(f"column {params.inputs_column!r}: {what} hold "
                                  f"{sorted(widths)[:4]} numbers; all need the same count",
                                  "inputs_column", "pad or trim the features to one size "
                                  "(a time axis is a list of frames)", code="E494")
        if not np.isfinite(values.astype(np.float64)).all():
            raise DataSourceError(f"column {params.inputs_column!r} holds NaN or infinity in its "
                                  f"first {len(sample)} rows", "inputs_column", "clean the "
                                  "features before training", code="E350")
        target_depth, target_leaf = column_kind(targets)
        task = params.task
        if task == "auto":
            task = ("class" if (target_depth, target_leaf) == (0, "i") else "label_sequence"
                    if (target_depth, target_leaf) == (1, "i") else "regression")
        expected = {"class": (0, "i"), "label_sequence": (1, "i")}.get(task)
        if (expected and (target_depth, target_leaf) != expected) or target_leaf not in "bif" \
                or target_depth > 1:
            raise DataSourceError(f"column {params.targets_column!r} has type {targets.type}, "
                                  f"which cannot hold {task} targets", "targets_column",
                                  "classes are integers, label sequences lists of integers",
                                  code="E494")
        self.task = task
        self.target_shape: tuple = {"class": (), "label_sequence": ("L",)}.get(task, ())
        if task == "regression" and target_depth == 1:
            self.target_shape = (int(flat_rows(targets.slice(0, 1))[1][0]),)

    def lengths(self, params: ArrowParams, dataset: Any) -> Any:
        """Frames per row: the lengths column, else each row's count of frames; None for dense."""
        import numpy as np

        if not self.sequence:
            if params.input_lengths_column is not None:
                raise DataSourceError("input_lengths_column is given for inputs without a time "
                                      "axis", "input_lengths_column", "remove it", code="E494")
            return None
        from pyarrow import compute

        column = dataset.data.table.column(params.inputs_column)
        frames = np.concatenate([compute.list_value_length(chunk).to_numpy(zero_copy_only=False)
                                 for chunk in column.chunks]).astype(np.int64)
        if params.input_lengths_column is None:
            return frames
        given = _column(dataset, params, "input_lengths_column")
        if column_kind(given) != (0, "i"):
            raise DataSourceError(f"column {params.input_lengths_column!r} has type "
                                  f"{given.type}, not one integer per row",
                                  "input_lengths_column", "store frame counts", code="E494")
        lengths = given.to_numpy().astype(np.int64)
        bad = np.nonzero((lengths < 1) | (lengths > frames))[0]
        if len(bad):
            raise DataSourceError(f"row {int(bad[0])}: length {int(lengths[bad[0]])} is outside "
                                  f"[1, {int(frames[bad[0]])}] (its frames)",
                                  "input_lengths_column", "each length must fit its row",
                                  code="E496")
        return lengths


class ArrowStore(ExampleStore):
    """Rows of a `datasets.Dataset`, taken from its memory-mapped Arrow table batch by batch.

    Args:
        dataset: the data set (pickled by file name into workers and DDP processes).
        params: the column names.
        layout: shapes and task.
        input_lengths: frames per row, or None for dense inputs.
    """

    def __init__(self, dataset: Any, params: ArrowParams, layout: ArrowLayout,
                 input_lengths: Any, base_directory: Path) -> None:
        self._handles = {"dataset": dataset}
        self.params, self.base_directory, self.layout = params, base_directory, layout
        self.columns = (params.inputs_column, params.targets_column)
        self.count, self.input_lengths = len(dataset), input_lengths
        self.has_target_lengths = layout.task == "label_sequence"
        # The Arrow files read, and the Parquet files a worker process would convert again.
        self.stamps = FileStamps([file["filename"] for file in dataset.cache_files]
                                 + locate(params.path, base_directory)[1], "path")

    @property
    def dataset(self) -> Any:
        """The `datasets.Dataset` (loaded once per process; its Arrow files name the maps)."""
        handles = self.__dict__.setdefault("_handles", {})
        if handles.get("dataset") is None:
            handles["dataset"] = load_arrow(self.params, self.base_directory)
        return handles["dataset"]

    def _table(self) -> Any:
        """The input and target columns over this process's own memory maps of the Arrow files.

        The library maps the files itself, but through maps nndsl cannot release: pages a
        process touched count in its resident size until unmapped, and the kernel maps whole
        page-cache folios (around a megabyte) around each row read. Over maps of its own the
        store drops them after every few rows (`release_pages`), as `npy_dir` does.
        """
        import mmap

        import pyarrow as arrow

        handles = self.__dict__.setdefault("_handles", {})
        if handles.get("table") is None:
            dataset = self.dataset
            rows = dataset._indices  # a selected or shuffled data set maps its rows
            handles["row_map"] = None if rows is None else rows.column(0).to_numpy()
            maps, tables = [], []
            for file in dataset.cache_files:
                with open(file["filename"], "rb") as handle:
                    maps.append(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
                tables.append(arrow.ipc.open_stream(arrow.py_buffer(maps[-1])).read_all())
            handles["maps"] = maps
            handles["table"] = arrow.concat_tables(tables).select(list(self.columns))
        return handles["table"]

    def _take(self, rows: Any) -> Any:
        """The rows' input and target columns, copied out of the memory maps."""
        import pyarrow as arrow

        from nndsl.data.lazy_npy import release_pages

        table = self._table()
        row_map = self._handles["row_map"]
        if row_map is not None:
            rows = row_map[rows]
        # One zero-copy slice per row (`take` on a column of many chunks would first join them
        # all), copied out a few rows at a time with the mapped pages released in between.
        pieces = []
        for start in range(0, len(rows), ROWS_PER_RELEASE):
            chosen = rows[start:start + ROWS_PER_RELEASE]
            pieces.append(arrow.concat_tables([table.slice(int(row), 1) for row in chosen])
                          .combine_chunks())
            release_pages(self._handles["maps"])
        return arrow.concat_tables(pieces).combine_chunks()

    def examples(self, indices: Any) -> list[Example]:
        import numpy as np

        self.stamps.check()
        rows = np.asarray(indices, dtype=np.int64)
        taken = self._take(rows)
        values, counts = flat_rows(taken.column(0))
        width = self.layout.input_shape[-1]
        values = values.astype(np.float32, copy=False).reshape(-1, width)
        if self.layout.sequence:
            inputs = np.split(values, np.cumsum(counts)[:-1])
        else:
            inputs = list(values)
        target_column = taken.column(1)
        if self.layout.task == "label_sequence":
            labels, label_counts = flat_rows(target_column)
            targets = np.split(labels.astype(np.int64), np.cumsum(label_counts)[:-1])
        elif self.layout.target_shape:  # regression vectors
            targets = list(flat_rows(target_column)[0].astype(np.float32)
                           .reshape(len(rows), -1))
        else:
            kind = np.int64 if self.layout.task == "class" else np.float32
            targets = list(target_column.to_numpy().astype(kind))
        return [cut_example(inputs[position], targets[position],
                            None if self.input_lengths is None else self.input_lengths[row],
                            len(targets[position]) if self.has_target_lengths else None)
                for position, row in enumerate(rows)]

    def class_targets(self) -> Any:
        import numpy as np

        if self.layout.task != "class":
            return None
        return self.dataset.data.table.column(self.columns[1]).to_numpy().astype(np.int64)

    def size_on_disk(self) -> int:
        from nndsl.data.lazy_store import directory_size

        return directory_size(file["filename"] for file in self.dataset.cache_files)


def check_labels(params: ArrowParams, column: Any, task: str, rows: int) -> int | None:
    """Classes from the given count or the whole target `column`; labels of its first `rows`
    rows checked against it (E495). None for regression."""
    import numpy as np

    if task == "regression":
        return None
    if params.num_classes is not None:
        column = column.slice(0, rows)
    labels = column.to_numpy() if task == "class" else flat_rows(column)[0]
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = params.num_classes or int(labels.max(initial=0)) + 1
    floor = 1 if task == "label_sequence" else 0
    bad = labels[(labels < floor) | (labels >= num_classes)]
    if len(bad):
        raise DataSourceError(f"column {params.targets_column!r}: label {int(bad[0])} is outside "
                              f"[{floor}, {num_classes})", "num_classes" if params.num_classes
                              else "targets_column", "fix the labels, or raise num_classes",
                              code="E495")
    return num_classes


@data_source("arrow")
class ArrowData:
    """Arrow (save_to_disk) or Parquet data through the `datasets` library, read lazily."""

    Params = ArrowParams
    doc = "Arrow (save_to_disk folder) or Parquet files via Hugging Face datasets, read lazily"

    def signature(self, params: ArrowParams, base_directory: Path) -> DataSignature:
        """Column types, a bounded sample of rows and labels. A saved data set's row lengths
        come from its list offsets; Parquet files are not converted for validation (their
        metadata and first rows are read), so their longest example is checked when training."""
        sample, count, target_column = peek_arrow(params, base_directory)
        layout = ArrowLayout(params, sample, count)
        lengths = layout.lengths(params, sample) if len(sample) == count else None
        if target_column is None:
            target_column = _column(sample, params, "targets_column")
        return self._signature(params, target_column, layout, lengths, SAMPLE_ROWS)

    def _signature(self, params: ArrowParams, target_column: Any, layout: ArrowLayout,
                   lengths: Any, rows: int) -> DataSignature:
        num_classes = check_labels(params, target_column, layout.task, rows)
        return DataSignature(
            input_shape=layout.input_shape, target_shape=layout.target_shape,
            input_kind="sequence" if layout.sequence else "dense",
            target_kind=layout.task,  # type: ignore[arg-type]  # one of the literal's values
            num_classes=num_classes, example_count=layout.count,
            description=f"{Path(params.path).name}: {layout.count} rows ({layout.task}), "
            "memory-mapped Arrow",
            longest_example=None if lengths is None else int(lengths.max()))

    def size_on_disk(self, params: ArrowParams, base_directory: Path) -> int:
        """Bytes of the saved data set's folder or of the Parquet files."""
        from nndsl.data.lazy_store import directory_size

        saved, files = locate(params.path, base_directory)
        return directory_size(saved.rglob("*") if saved is not None else files)

    def open(self, params: ArrowParams, base_directory: Path, seed: int) -> ArrowStore | None:
        """The lazy store, every label checked first; None with `lazy: false`."""
        return self._store(params, base_directory) if params.lazy else None

    def _store(self, params: ArrowParams, base_directory: Path) -> ArrowStore:
        dataset = load_arrow(params, base_directory)
        layout = ArrowLayout(params, dataset)
        lengths = layout.lengths(params, dataset)
        self._signature(params, _column(dataset, params, "targets_column"), layout, lengths,
                        layout.count)
        return ArrowStore(dataset, params, layout, lengths, base_directory)

    def load(self, params: ArrowParams, base_directory: Path, seed: int) -> DataArrays:
        """Every row in memory, padded (what the lazy store is compared with)."""
        import numpy as np

        store = self._store(params, base_directory)
        examples = store.examples(np.arange(store.count))
        inputs = _pad([example["inputs"] for example in examples], np.float32)
        targets = [example["targets"] for example in examples]
        sequences = store.has_target_lengths
        return DataArrays(
            inputs=inputs,
            targets=_pad(targets, np.int64) if sequences else np.stack(targets),
            input_lengths=store.input_lengths,
            target_lengths=(np.array([len(row) for row in targets], dtype=np.int64)
                            if sequences else None))


def _pad(rows: list[Any], dtype: Any) -> Any:
    """Rows of different first-axis lengths stacked into one zero-padded array."""
    import numpy as np

    longest = max(max(len(row) for row in rows), 1)
    padded = np.zeros((len(rows), longest, *rows[0].shape[1:]), dtype=dtype)
    for position, row in enumerate(rows):
        padded[position, : len(row)] = row
    return padded
