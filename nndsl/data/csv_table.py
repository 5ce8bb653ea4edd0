"""Data stage: the `csv` source, a table of numbers with one target column.

In: a path (relative to the spec file's directory), the target column and how to read the file.
Out: a `DataSignature` and, on `load`, `DataArrays`; every problem in the file raises a
`DataSourceError` naming the file, the `data:` key to fix and what to do.

`csv`: a header row, one target column, the other columns (or those listed in `features`) as
numbers. Class targets may be integers or names (sorted names become classes 0, 1, ...). The
table is parsed in pure Python by the signature (once per file version), so every error is found
before training; `load` turns the parsed rows into arrays.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.files import closest, existing_file, read_utf8
from nndsl.data.registry import DataArrays, DataSignature, DataSourceError, data_source


class CsvParams(BaseModel):
    """Keys of `data:` for `source: csv` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    path: str = Field(description="the CSV file (header row first), relative to the spec")
    target: str = Field("target", description="the column holding the targets")
    features: tuple[str, ...] | None = Field(
        None, description="the feature columns, in order; default: every column but the target"
    )
    task: Literal["class", "regression"] = Field(
        "class", description="class: integer or named labels; regression: numeric targets"
    )
    num_classes: int | None = Field(
        None, ge=1, description="classes for integer labels; default: largest label + 1"
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="field separator")


@dataclass(frozen=True)
class CsvTable:
    """A parsed, checked CSV table: feature rows, numeric targets and class facts."""

    features: tuple[str, ...]
    values: list[list[float]]
    targets: list[float]
    class_names: tuple[str, ...] | None
    num_classes: int | None


@functools.lru_cache(maxsize=4)
def _parse_csv(file: Path, version: tuple[int, int], params: CsvParams) -> CsvTable:
    """Parse and check the table; `version` (mtime, size) makes edits invalidate the cache."""
    rows = _read_rows(file, params.delimiter)
    if not rows or not rows[0]:
        raise DataSourceError(f"{file} is empty; it needs a header row", "path",
                              "write the column names on the first line")
    header = [name.strip() for name in rows[0]]
    if params.target not in header:
        raise DataSourceError(f"{file} has no column {params.target!r}", "target",
                              closest(params.target, header))
    features = list(params.features or [name for name in header if name != params.target])
    for name in features:
        if name not in header or name == params.target:
            raise DataSourceError(f"{file} has no feature column {name!r}", "features",
                                  closest(name, [n for n in header if n != params.target]))
    columns = [header.index(name) for name in features]
    target_column = header.index(params.target)
    values: list[list[float]] = []
    targets: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines, often at the end of a file
        if len(row) != len(header):
            raise DataSourceError(f"{file}, line {line}: {len(row)} fields, header has "
                                  f"{len(header)}", "path", "every row needs one value per column")
        try:
            numbers = [float(row[column]) for column in columns]
        except ValueError:
            column = next(c for c in columns if not _is_number(row[c]))
            raise DataSourceError(
                f"{file}, line {line}, column {header[column]!r}: {row[column]!r} is not a number",
                "features" if params.features else "path",
                "fix the value, or leave the column out with `features:`",
            ) from None
        if not all(map(math.isfinite, numbers)):
            column = next(c for c, number in zip(columns, numbers) if not math.isfinite(number))
            raise DataSourceError(
                f"{file}, line {line}, column {header[column]!r}: {row[column].strip()!r} is not "
                "a finite number", "features" if params.features else "path",
                "clean or impute the value (NaN and inf cannot be trained on), or leave the "
                "column out with `features:`")
        values.append(numbers)
        targets.append(row[target_column].strip())
    if not values:
        raise DataSourceError(f"{file} has a header but no rows", "path", "add examples")
    class_names: tuple[str, ...] | None = None
    if params.task == "regression" or all(_is_integer(target) for target in targets):
        if params.task == "regression" and not all(_is_finite(target) for target in targets):
            bad = next(target for target in targets if not _is_finite(target))
            raise DataSourceError(f"{file}: target {bad!r} is not a finite number", "target",
                                  "regression needs numeric targets (no NaN or inf)")
        numbers = [float(target) for target in targets]
    else:
        # Named classes: sorted so the numbering does not depend on row order.
        class_names = tuple(sorted(set(targets)))
        numbers = [float(class_names.index(target)) for target in targets]
    num_classes = None
    if params.task == "class":
        num_classes = params.num_classes or (len(class_names) if class_names else
                                             int(max(numbers)) + 1)
        bad_labels = [n for n in numbers if not 0 <= n < num_classes]
        if bad_labels:
            raise DataSourceError(f"{file}: label {bad_labels[0]:g} is outside [0, {num_classes})",
                                  "num_classes" if params.num_classes else "target",
                                  "fix the labels, or raise num_classes if the label is meant")
    return CsvTable(tuple(features), values, numbers, class_names, num_classes)


def _read_rows(file: Path, delimiter: str) -> list[list[str]]:
    """The file's rows as lists of fields; undecodable text and oversized fields are
    `DataSourceError`s naming the line."""
    text = read_utf8(file, "path", "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                     encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return list(reader)
    except csv.Error as error:
        # Python's csv module refuses fields over 128 KiB: no number is that long, so a field
        # that size is a quoting mistake (an unclosed quote swallows the rest of the file).
        oversized = "field larger than field limit" in str(error)
        raise DataSourceError(f"{file}, line {reader.line_num}: {error}", "path",
                              "no number is that long: check the quoting (an unclosed quote "
                              "runs on to the end of the file)" if oversized else
                              "the file is not a CSV table of numbers") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_finite(text: str) -> bool:
    return _is_number(text) and math.isfinite(float(text))


def _is_integer(text: str) -> bool:
    return text.lstrip("+-").isdigit()


@data_source("csv")
class CsvFile:
    """A CSV table: a header row, a target column, numeric feature columns."""

    Params = CsvParams
    doc = "a CSV file with a header row: numeric feature columns and a target column"

    def _table(self, params: CsvParams, base_directory: Path) -> tuple[Path, CsvTable]:
        file = existing_file(base_directory, params.path, "path", "CSV file")
        status = file.stat()
        return file, _parse_csv(file, (status.st_mtime_ns, status.st_size), params)

    def signature(self, params: CsvParams, base_directory: Path) -> DataSignature:
        """Parses and checks the whole table (pure Python) so errors surface in validation."""
        file, table = self._table(params, base_directory)
        return DataSignature(
            input_shape=(len(table.features),),
            input_kind="dense",
            target_kind=params.task,
            num_classes=table.num_classes,
            example_count=len(table.values),
            description=f"{file.name}: {len(table.values)} rows, {len(table.features)} "
            f"features, target {params.target!r} ({params.task})",
        )

    def load(self, params: CsvParams, base_directory: Path, seed: int) -> DataArrays:
        """The table as float32 features and int64 labels (or float32 regression targets)."""
        import numpy as np

        _, table = self._table(params, base_directory)
        target_type = np.int64 if params.task == "class" else np.float32
        return DataArrays(
            inputs=np.asarray(table.values, dtype=np.float32),
            targets=np.asarray(table.targets, dtype=target_type),
            class_names=table.class_names,
            feature_names=table.features,
        )
