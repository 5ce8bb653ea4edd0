"""Data stage: the `npy_dir` source, a directory of `.npy` arrays opened memory-mapped, so a data
set larger than memory is read a batch at a time from the page cache.

In: a directory holding `inputs.npy` and `targets.npy` (one row per example) and optionally
`input_lengths.npy` (valid frames of padded variable-length inputs) and `target_lengths.npy`
(labels of padded label sequences, for CTC); the file names are spec keys. Out: a
`DataSignature` from the `.npy` headers alone and, on `open`, an `NpyStore` whose examples are
row slices of the memory maps. `load` reads the same arrays whole (the in-memory comparison).

Checked from metadata before training: files present (E499) and complete (E516), numeric dtypes
and equal row counts (E494), lengths within the padded size (E496); labels of a bounded sample at
validation and of every row when opened (targets are small: one number or one padded sequence
per example), E495. NaN or infinity (E350) in a sample of examples when the store opens, and in
every batch read later; a file that changes while training reads it stops the run (E516). numpy
is imported inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.file_checks import FileStamps, check_npy_complete
from nndsl.data.lazy_store import Example, ExampleStore, cut_example, directory_size
from nndsl.data.registry import DataArrays, DataSignature, DataSourceError, data_source

SAMPLE_ROWS = 4096  # labels checked at validation; the whole column when training starts
ROWS_PER_RELEASE = 8  # rows read through the memory map between two releases of its pages
CHUNK_ROWS = 1 << 16  # rows per read when scanning a column (bounded memory)
SAMPLE_EXAMPLES = 32  # examples read in full when the store opens (NaN or infinity: E350)


class NpyDirectoryParams(BaseModel):
    """Keys of `data:` for `source: npy_dir` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    path: str = Field(description="the directory of .npy files, relative to the spec file")
    inputs_file: str = Field("inputs.npy", description="inputs, one row per example")
    targets_file: str = Field("targets.npy", description="targets, one row per example")
    input_lengths_file: str = Field("input_lengths.npy", description="valid frames per padded "
                                    "input row, if the directory has it")
    target_lengths_file: str = Field("target_lengths.npy", description="labels per padded "
                                     "label row (CTC), if the directory has it")
    task: Literal["auto", "class", "multilabel", "regression", "label_sequence"] = Field(
        "auto", description="as for npz: label_sequence with target lengths, class for integer "
        "1-D targets, multilabel for boolean 2-D targets, else regression")
    num_classes: int | None = Field(None, ge=1, description="classes (CTC: labels including "
                                    "the blank); default: largest label + 1")
    lazy: bool = Field(True, description="read a batch at a time from the memory-mapped files; "
                       "false loads the whole set into memory before training")


def _open(file: Path) -> Any:
    import numpy as np

    check_npy_complete(file, "path")
    try:
        return np.load(file, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataSourceError(f"{file} is not a readable .npy array ({error})", "path",
                              "write it with numpy.save", code="E499") from None


class NpyLayout:
    """The directory's arrays as memory maps, their task and counts (no row is read)."""

    def __init__(self, params: NpyDirectoryParams, base_directory: Path) -> None:
        directory = (base_directory / Path(params.path).expanduser()).resolve()
        if not directory.is_dir():
            raise DataSourceError(f"npy directory {params.path!r} is not a directory (looked at "
                                  f"{directory})", "path", "relative paths are read from the "
                                  "spec file's directory", code="E499")
        self.directory, self.files, self.arrays = directory, {}, {}
        present = sorted(path.name for path in directory.glob("*.npy"))
        for field in ("inputs_file", "targets_file", "input_lengths_file", "target_lengths_file"):
            file = directory / getattr(params, field)
            if file.is_file():
                self.files[field], self.arrays[field] = file, _open(file)
            elif field in ("inputs_file", "targets_file"):
                from nndsl.data.files import closest

                raise DataSourceError(f"{directory} has no {getattr(params, field)!r}", field,
                                      closest(getattr(params, field), present), code="E499")
        inputs, targets = self.arrays["inputs_file"], self.arrays["targets_file"]
        for field, array in self.arrays.items():
            if array.dtype.kind not in "biuf" or array.ndim == 0:
                raise DataSourceError(f"{self.files[field]}: dtype {array.dtype} with shape "
                                      f"{array.shape} is not an array of numbers", field,
                                      "store numeric arrays, one row per example", code="E494")
            if len(array) != len(inputs):
                raise DataSourceError(f"{self.files[field]} has {len(array)} rows, "
                                      f"{self.files['inputs_file'].name} {len(inputs)}", field,
                                      "every array needs one row per example", code="E494")
        if len(inputs) == 0:
            raise DataSourceError(f"{self.files['inputs_file']} has no rows", "inputs_file",
                                  "store one row per example", code="E494")
        for field, padded in (("input_lengths_file", inputs), ("target_lengths_file", targets)):
            lengths = self.arrays.get(field)
            if lengths is not None and (lengths.ndim != 1 or lengths.dtype.kind not in "iu"
                                        or padded.ndim < 2):
                raise DataSourceError(f"{self.files[field]} must hold one integer per example, "
                                      "for padded rows of at least 2 dimensions", field,
                                      "store one length per row", code="E494")
        self.task = params.task
        if self.task == "auto":
            if "target_lengths_file" in self.arrays:
                self.task = "label_sequence"
            elif targets.dtype.kind in "iu" and targets.ndim == 1:
                self.task = "class"
            else:
                self.task = ("multilabel" if targets.dtype.kind == "b" and targets.ndim == 2
                             else "regression")
        if self.task == "label_sequence" and "target_lengths_file" not in self.arrays:
            raise DataSourceError(f"{directory} has no {params.target_lengths_file!r}",
                                  "target_lengths_file", "label sequences need their lengths",
                                  code="E499")

    def lengths(self, field: str) -> Any:
        """A lengths array read whole (one integer per example), checked against its padding."""
        import numpy as np

        array = self.arrays.get(field)
        if array is None:
            return None
        values = np.asarray(array, dtype=np.int64)
        padded = self.arrays["inputs_file" if field == "input_lengths_file" else "targets_file"]
        lowest = 1 if field == "input_lengths_file" else 0
        if values.min() < lowest or values.max() > padded.shape[1]:
            raise DataSourceError(f"{self.files[field]} holds a length outside [{lowest}, "
                                  f"{padded.shape[1]}] (the padded size)", field,
                                  "each length must fit inside its padded row", code="E496")
        return values


def label_range(targets: Any, lengths: Any, rows: int) -> tuple[int, int]:
    """(lowest, highest) label among the first `rows` rows (valid labels only), in chunks."""
    import numpy as np

    lowest, highest = None, None
    for start in range(0, min(rows, len(targets)), CHUNK_ROWS):
        chunk = np.asarray(targets[start:min(rows, start + CHUNK_ROWS)])
        if lengths is not None:
            valid = np.arange(chunk.shape[1])[None, :] < lengths[start:start + len(chunk), None]
            chunk = chunk[valid]
        if chunk.size:
            low, high = int(chunk.min()), int(chunk.max())
            lowest = low if lowest is None else min(lowest, low)
            highest = high if highest is None else max(highest, high)
    return (lowest or 0, highest or 0) if lowest is not None else (0, 0)


def release_pages(maps: Any) -> None:
    """Drop the read pages from this process's memory maps (they stay in the page cache).

    A mapped page a process touched counts in its resident memory until it is unmapped, so an
    epoch over a mapped file would grow the trainer's resident size towards the file's size
    although nothing is materialised; the rows are copies by now, so the mapping can let go.
    """
    import mmap

    for array in maps:  # numpy memory maps, or Python `mmap` objects themselves
        mapping = array if isinstance(array, mmap.mmap) else getattr(array, "_mmap", None)
        if mapping is not None and hasattr(mapping, "madvise"):
            mapping.madvise(mmap.MADV_DONTNEED)


class NpyStore(ExampleStore):
    """Rows of a `.npy` directory, read through memory maps opened in each process.

    Args:
        files: field ("inputs_file", ...) -> file.
        input_lengths, target_lengths: the lengths arrays (in memory), or None.
        integer_targets: targets are class indices or labels (int64), else float32 values.
    """

    def __init__(self, files: dict[str, Path], input_lengths: Any, target_lengths: Any,
                 integer_targets: bool) -> None:
        self.files, self.integer_targets = files, integer_targets
        self.input_lengths, self.target_lengths = input_lengths, target_lengths
        self.has_target_lengths = target_lengths is not None
        self.count = len(self._maps()["inputs_file"])
        # The lengths are in memory; the maps read these two files batch by batch.
        self.stamps = FileStamps([files["inputs_file"], files["targets_file"]], "path")

    def _maps(self) -> dict[str, Any]:
        maps = self.__dict__.get("_handles")
        if maps is None:
            maps = self.__dict__["_handles"] = {field: _open(file)
                                                for field, file in self.files.items()
                                                if field in ("inputs_file", "targets_file")}
        return maps

    def examples(self, indices: Any) -> list[Example]:
        import numpy as np

        self.stamps.check()  # before the maps: pages of a truncated file would crash the read
        maps = self._maps()
        rows = np.asarray(indices, dtype=np.int64)
        # Rows are read in file order, a few at a time, and their pages released after each
        # few: the kernel maps whole page-cache folios (up to megabytes around each row), so a
        # batch read in one go would map far more than it copies.
        order = np.argsort(rows, kind="stable")
        inputs = np.empty((len(rows), *maps["inputs_file"].shape[1:]), dtype=np.float32)
        for start in range(0, len(rows), ROWS_PER_RELEASE):
            chosen = order[start:start + ROWS_PER_RELEASE]
            inputs[chosen] = maps["inputs_file"][rows[chosen]]
            release_pages([maps["inputs_file"]])
        targets = np.asarray(maps["targets_file"][rows[order]])
        targets = targets.astype(np.int64 if self.integer_targets else np.float32)
        targets_in_order = np.empty_like(targets)
        targets_in_order[order] = targets
        release_pages(maps.values())
        self._check_finite(inputs, rows, "inputs_file")
        if not self.integer_targets:
            self._check_finite(targets_in_order, rows, "targets_file")
        return [cut_example(inputs[position], targets_in_order[position],
                            None if self.input_lengths is None else self.input_lengths[row],
                            None if self.target_lengths is None else self.target_lengths[row])
                for position, row in enumerate(rows)]

    def _check_finite(self, values: Any, rows: Any, field: str) -> None:
        """E350 naming the first example (and place) holding NaN or infinity."""
        from nndsl.data.files import first_non_finite

        place = first_non_finite(values)
        if place is None:
            return
        where = f" at position {place[1:]}" if place[1:] else ""
        raise DataSourceError(f"{self.files[field]}: example {int(rows[place[0]])} holds "
                              f"{values[place]}{where}", "path",
                              "clean the data or drop the example", code="E350")

    def check_sample(self, seed: int) -> None:
        """Read the first example and a seeded draw (`SAMPLE_EXAMPLES` in all), as batches are
        read, so damaged data is found before training starts (every later read is checked)."""
        import numpy as np

        drawn = np.random.default_rng([seed, 3]).choice(
            self.count, min(SAMPLE_EXAMPLES, self.count), replace=False)
        self.examples(sorted({0, *(int(row) for row in drawn)}))

    def class_targets(self) -> Any:
        import numpy as np

        targets = self._maps()["targets_file"]
        if self.has_target_lengths or targets.ndim != 1 or not self.integer_targets:
            return None
        return np.asarray(targets, dtype=np.int64)

    def size_on_disk(self) -> int:
        return directory_size(self.files.values())


@data_source("npy_dir")
class NpyDirectory:
    """A directory of .npy arrays (inputs, targets, optional lengths), memory-mapped."""

    Params = NpyDirectoryParams
    doc = "a directory of .npy files (inputs, targets, optional lengths), read memory-mapped"

    def signature(self, params: NpyDirectoryParams, base_directory: Path) -> DataSignature:
        """From the headers, the lengths arrays and a bounded sample of the labels."""
        return self._signature(params, NpyLayout(params, base_directory), SAMPLE_ROWS)

    def _signature(self, params: NpyDirectoryParams, layout: NpyLayout,
                   rows: int) -> DataSignature:
        inputs, targets = layout.arrays["inputs_file"], layout.arrays["targets_file"]
        task, count = layout.task, len(inputs)
        input_lengths = layout.lengths("input_lengths_file")
        target_lengths = layout.lengths("target_lengths_file")
        num_classes = params.num_classes
        if task == "multilabel":
            num_classes = targets.shape[1] if targets.ndim > 1 else 1
        elif task in ("class", "label_sequence"):
            # Without num_classes the whole column decides it; with it, a sample is checked.
            lowest, highest = label_range(targets, target_lengths,
                                          rows if num_classes else len(targets))
            num_classes = num_classes or highest + 1
            floor = 1 if task == "label_sequence" else 0
            if lowest < floor or highest >= num_classes:
                bad = lowest if lowest < floor else highest
                raise DataSourceError(f"{layout.files['targets_file']}: label {bad} is outside "
                                      f"[{floor}, {num_classes})", "num_classes" if
                                      params.num_classes else "targets_file", "fix the labels, "
                                      "or raise num_classes", code="E495")
        sequence = input_lengths is not None
        return DataSignature(
            input_shape=("T", *inputs.shape[2:]) if sequence else tuple(inputs.shape[1:]),
            input_kind="sequence" if sequence else "dense",
            target_kind=task,  # type: ignore[arg-type]  # one of the literal's values
            num_classes=None if task == "regression" else num_classes,
            example_count=count,
            description=f"{layout.directory.name}/: {count} examples ({task}), memory-mapped",
            target_shape={"class": (), "label_sequence": ("L",)}.get(task, targets.shape[1:]),
            longest_example=None if input_lengths is None else int(input_lengths.max()))

    def open(self, params: NpyDirectoryParams, base_directory: Path,
             seed: int) -> NpyStore | None:
        """The memory-mapped store, every label and a sample of examples checked first; None
        with `lazy: false`."""
        if not params.lazy:
            return None
        store = self._store(params, base_directory)
        store.check_sample(seed)
        return store

    def _store(self, params: NpyDirectoryParams, base_directory: Path) -> NpyStore:
        layout = NpyLayout(params, base_directory)
        self._signature(params, layout, len(layout.arrays["inputs_file"]))
        return NpyStore(layout.files, layout.lengths("input_lengths_file"),
                        layout.lengths("target_lengths_file"),
                        layout.task in ("class", "label_sequence"))

    def load(self, params: NpyDirectoryParams, base_directory: Path, seed: int) -> DataArrays:
        """The arrays whole, in memory (what the lazy store is compared with)."""
        import numpy as np

        store = self._store(params, base_directory)
        maps = store._maps()
        targets = np.array(maps["targets_file"])
        return DataArrays(
            inputs=np.array(maps["inputs_file"], dtype=np.float32),
            targets=targets.astype(np.int64 if store.integer_targets else np.float32),
            input_lengths=store.input_lengths, target_lengths=store.target_lengths)

    def describe(self, params: NpyDirectoryParams, base_directory: Path) -> str:
        return self.signature(params, base_directory).description
