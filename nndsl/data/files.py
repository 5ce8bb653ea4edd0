"""Data stage: user files as data sources: NumPy archives (`npz`), and the helpers every file
source shares (`existing_file`, `closest`, `check_labels`; CSV tables live in `csv_table.py`).

In: a path (relative to the spec file's directory) and how to read it. Out: a `DataSignature`
and, on `load`, `DataArrays`. Every problem in the user's file (missing file, key or column,
inconsistent lengths, a label out of range, a value that is not a number) raises a
`DataSourceError` naming the file, the `data:` key to fix and what to do.

`npz`: the signature reads only the archive's array headers (shapes and dtypes, pure Python), so
validation stays fast; when `num_classes` is not given it also reads the targets to count them.
Arrays: inputs, targets and, optionally, input lengths (padded variable-length inputs) and target
lengths (padded label sequences for CTC, blank = 0).
"""

from __future__ import annotations

import ast
import difflib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.registry import DataArrays, DataSignature, DataSourceError, data_source

NUMERIC_KINDS = frozenset("biuf")  # numpy dtype kinds: bool, signed, unsigned, floating
PATH_HINT = "relative paths are read from the spec file's directory"


def existing_file(base_directory: Path, path: str, field: str, what: str) -> Path:
    """`path` resolved against `base_directory`, which must name an existing file.

    Raises:
        DataSourceError: the file does not exist or is a directory.
    """
    resolved = (base_directory / Path(path).expanduser()).resolve()
    if not resolved.is_file():
        problem = "is a directory, not a file" if resolved.is_dir() else "does not exist"
        raise DataSourceError(f"{what} {path!r} {problem} (looked at {resolved})", field, PATH_HINT)
    return resolved


def closest(name: str, choices: list[str]) -> str:
    """A "did you mean" hint listing the available choices."""
    matches = difflib.get_close_matches(name, choices, n=1)
    known = f"available: {', '.join(choices)}" if choices else "the file has none"
    return f"did you mean {matches[0]!r}? ({known})" if matches else known


def read_utf8(file: Path, field: str, hint: str = "save the file as UTF-8",
              encoding: str = "utf-8") -> str:
    """`file`'s text; bytes that are not UTF-8 are a `DataSourceError` naming the line and byte
    (`encoding` "utf-8-sig" also drops a leading byte-order mark)."""
    data = file.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataSourceError(f"{file}, line {line}: byte {data[error.start]:#04x} is not UTF-8 "
                              "text", field, hint) from None


def check_labels(labels: Any, num_classes: int, lowest: int, file: Path, field: str) -> None:
    """Raise `DataSourceError` unless every label is an integer in [lowest, num_classes)."""
    import numpy as np

    values = np.asarray(labels)
    if values.size and not np.array_equal(values, np.round(values)):
        raise DataSourceError(f"{file}: class labels must be whole numbers", field,
                              "store labels as integers (or use task: regression)")
    bad = (values < lowest) | (values >= num_classes)
    if bad.any():
        blank = " (0 is the CTC blank)" if lowest else ""
        raise DataSourceError(
            f"{file}: label {values[bad][0]:g} is outside [{lowest}, {num_classes}){blank}",
            field,
            "fix the labels, or raise num_classes if the label is meant",
        )


def read_npz_headers(file: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each array's dtype kind and shape, read from the `.npy` headers without numpy."""
    headers: dict[str, tuple[str, tuple[int, ...]]] = {}
    try:
        with zipfile.ZipFile(file) as archive:
            for member_name in archive.namelist():
                if not member_name.endswith(".npy"):
                    continue
                with archive.open(member_name) as member:
                    preamble = member.read(8)  # magic string (6 bytes) and format version
                    if preamble[:6] != b"\x93NUMPY":
                        raise ValueError(f"{member_name} is not a .npy array")
                    size_bytes = 2 if preamble[6] == 1 else 4
                    length = int.from_bytes(member.read(size_bytes), "little")
                    header = ast.literal_eval(member.read(length).decode("latin1"))
                    header_bytes = member.tell()
                descr = header["descr"]
                # Structured dtypes (a list of fields) and pickled objects are not numbers.
                kind = descr[1] if isinstance(descr, str) and len(descr) > 1 else "V"
                key = member_name[: -len(".npy")]
                headers[key] = (kind, tuple(header["shape"]))
                _check_complete(file, key, descr, headers[key][1],
                                archive.getinfo(member_name).file_size - header_bytes)
    except (zipfile.BadZipFile, ValueError, KeyError, SyntaxError) as error:
        raise DataSourceError(
            f"{file} is not a NumPy .npz archive ({error})",
            "path",
            "write it with numpy.savez(path, inputs=..., targets=...)",
        ) from None
    return headers


def _check_complete(file: Path, key: str, descr: Any, shape: tuple[int, ...], stored: int) -> None:
    """Raise `DataSourceError` when a numeric array's member holds fewer bytes than its header
    promises (an archive rebuilt from a cut-off file): found from the zip directory, unread."""
    if not (isinstance(descr, str) and descr[1:2] in NUMERIC_KINDS and descr[2:].isdigit()):
        return
    needed = int(descr[2:])
    for size in shape:
        needed *= size
    if stored < needed:
        raise DataSourceError(f"{file}: array {key!r} is truncated ({stored} of {needed} bytes)",
                              "path", "the file is damaged or truncated; write it again with "
                              "numpy.savez")


class NpzParams(BaseModel):
    """Keys of `data:` for `source: npz` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    path: str = Field(description="the .npz file, relative to the spec file's directory")
    inputs_key: str = Field("inputs", description="array holding the inputs")
    targets_key: str = Field("targets", description="array holding the targets")
    input_lengths_key: str = Field(
        "input_lengths", description="array of valid frames per example, if the file has it"
    )
    target_lengths_key: str = Field(
        "target_lengths", description="array of labels per padded label sequence, if present"
    )
    task: Literal["auto", "class", "multilabel", "regression", "label_sequence"] = Field(
        "auto",
        description="auto: label_sequence with target lengths, class for integer 1-D targets, "
        "multilabel for boolean 2-D targets, else regression",
    )
    num_classes: int | None = Field(
        None, ge=1, description="classes (CTC: labels including the blank); default: largest + 1"
    )


@dataclass(frozen=True)
class NpzLayout:
    """What an archive's headers say: the task, the example count and the arrays' shapes."""

    file: Path
    task: str
    count: int
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    input_lengths_key: str | None
    target_lengths_key: str | None


def npz_layout(params: NpzParams, base_directory: Path) -> NpzLayout:
    """Check the archive's keys, dtypes and shapes from its headers (no numpy).

    Raises:
        DataSourceError: missing file or key, non-numeric array, inconsistent row counts.
    """
    file = existing_file(base_directory, params.path, "path", "npz file")
    headers = read_npz_headers(file)
    for field in ("inputs_key", "targets_key"):
        key = getattr(params, field)
        if key not in headers:
            raise DataSourceError(f"{file} has no array {key!r}", field,
                                  closest(key, sorted(headers)))
        if headers[key][0] not in NUMERIC_KINDS or not headers[key][1]:
            raise DataSourceError(f"{file}: array {key!r} is not an array of numbers", field,
                                  "store numeric arrays, one row per example")
    input_shape = headers[params.inputs_key][1]
    target_kind, target_shape = headers[params.targets_key]
    count = input_shape[0]
    if count == 0:
        raise DataSourceError(f"{file}: array {params.inputs_key!r} has no rows", "inputs_key",
                              "store one row per example (the archive holds none)")
    if target_shape[0] != count:
        raise DataSourceError(f"{file}: {params.inputs_key!r} has {count} rows but "
                              f"{params.targets_key!r} has {target_shape[0]}", "targets_key",
                              "inputs and targets need one row per example")
    present: dict[str, str | None] = {}
    for field, padded_shape in (("input_lengths_key", input_shape),
                                ("target_lengths_key", target_shape)):
        key = getattr(params, field)
        present[field] = key if key in headers else None
        if key in headers and (headers[key][1] != (count,) or headers[key][0] not in "iu"
                               or len(padded_shape) < 2):
            raise DataSourceError(f"{file}: {key!r} must hold {count} integers, one per example, "
                                  "for padded rows of at least 2 dimensions", field,
                                  "store one length per row, or rename the array if it is not one")
    task = params.task
    if task == "auto":
        if present["target_lengths_key"]:
            task = "label_sequence"
        elif target_kind in "iu" and len(target_shape) == 1:
            task = "class"
        else:
            task = "multilabel" if target_kind == "b" and len(target_shape) == 2 else "regression"
    if task == "label_sequence" and not present["target_lengths_key"]:
        raise DataSourceError(f"{file} has no array {params.target_lengths_key!r}",
                              "target_lengths_key", "label sequences need their lengths")
    return NpzLayout(file, task, count, input_shape, target_shape,
                     present["input_lengths_key"], present["target_lengths_key"])


def _read_npz(file: Path) -> dict[str, Any]:
    """Every array of the archive; a damaged member (truncated, bad CRC) is a `DataSourceError`."""
    import numpy as np

    key = None
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {}
            for key in archive.files:
                arrays[key] = archive[key]
            return arrays
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        member = f"array {key!r}" if key is not None else "the archive"
        raise DataSourceError(f"{file}: {member} cannot be read ({error})", "path",
                              "the file is damaged or truncated; write it again with "
                              "numpy.savez") from None


def first_non_finite(values: Any) -> tuple[int, ...] | None:
    """The index of the first NaN or infinite entry of `values` (row first), or None."""
    import numpy as np

    finite = np.isfinite(values)
    if finite.all():
        return None
    return tuple(int(axis[0]) for axis in np.nonzero(~finite))


@data_source("npz")
class NpzFile:
    """A NumPy .npz archive with inputs, targets and optional lengths."""

    Params = NpzParams
    doc = "a NumPy .npz file: inputs, targets, optional input/target lengths"

    def signature(self, params: NpzParams, base_directory: Path) -> DataSignature:
        """Shapes from the archive's headers; reads the targets only to count classes."""
        layout = npz_layout(params, base_directory)
        return self._signature(params, layout, None)

    def _signature(
        self, params: NpzParams, layout: NpzLayout, arrays: dict[str, Any] | None
    ) -> DataSignature:
        task, target_shape, input_shape = layout.task, layout.target_shape, layout.input_shape
        num_classes = params.num_classes
        if task == "multilabel":
            num_classes = target_shape[1] if len(target_shape) > 1 else 1
        elif task in ("class", "label_sequence") and num_classes is None:
            targets = (arrays or _read_npz(layout.file))[params.targets_key]
            num_classes = int(targets.max(initial=0)) + 1
        sequence = layout.input_lengths_key is not None
        target_shapes = {"class": (), "label_sequence": ("L",)}
        return DataSignature(
            input_shape=("T", *input_shape[2:]) if sequence else input_shape[1:],
            input_kind="sequence" if sequence else "dense",
            target_kind=task,  # type: ignore[arg-type]  # one of the literal's values
            num_classes=None if task == "regression" else num_classes,
            example_count=layout.count,
            description=f"{layout.file.name}: {layout.count} examples ({task})",
            target_shape=target_shapes.get(task, target_shape[1:]),
        )

    def load(self, params: NpzParams, base_directory: Path, seed: int) -> DataArrays:
        """The arrays, value-checked: finite inputs, lengths within padding, labels in range."""
        import numpy as np

        layout = npz_layout(params, base_directory)
        file, arrays = layout.file, _read_npz(layout.file)
        signature = self._signature(params, layout, arrays)
        inputs = arrays[params.inputs_key].astype(np.float32)
        targets = arrays[params.targets_key]
        for key, values in ((params.inputs_key, inputs), (params.targets_key, targets)):
            where = first_non_finite(values) if values.dtype.kind == "f" else None
            if where is not None:
                raise DataSourceError(
                    f"{file}: {key!r} holds NaN or infinity ({values[where]}) at row {where[0]}"
                    + (f", column {', '.join(map(str, where[1:]))}" if len(where) > 1 else ""),
                    "inputs_key" if key == params.inputs_key else "targets_key",
                    "clean or impute the non-finite values (NaN, inf) before training")
        lengths = {}
        for field, key, padded, lowest in (
            ("input_lengths_key", layout.input_lengths_key, inputs, 1),
            ("target_lengths_key", layout.target_lengths_key, targets, 0),
        ):
            if key is None:
                continue
            lengths[field] = values = arrays[key].astype(np.int64)
            if values.size and (values.min() < lowest or values.max() > padded.shape[1]):
                raise DataSourceError(f"{file}: {key!r} holds a length outside [{lowest}, "
                                      f"{padded.shape[1]}] (the padded size)", field,
                                      "each length must fit inside its padded row")
        labels_field = "num_classes" if params.num_classes else "targets_key"
        if layout.task == "label_sequence":
            valid = np.arange(targets.shape[1])[None, :] < lengths["target_lengths_key"][:, None]
            check_labels(targets[valid], signature.num_classes, 1, file, labels_field)
        elif layout.task == "class":
            check_labels(targets, signature.num_classes, 0, file, labels_field)
        integer_targets = layout.task in ("class", "label_sequence")
        return DataArrays(
            inputs=inputs,
            targets=targets.astype(np.int64 if integer_targets else np.float32),
            input_lengths=lengths.get("input_lengths_key"),
            target_lengths=lengths.get("target_lengths_key"),
        )
