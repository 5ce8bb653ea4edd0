"""Run stage: `nndsl predict`'s readers for data files laid out as the file-based sources lay them.

In: a path, the run's `data:` options when it trained on the same kind (their key, column and
file names; None: the source defaults) and whether Kaldi pipe entries may run. Out: a
`PredictionInputs`: float32 examples — fixed-shape rows, padded sequences with their lengths
(npz, `.npy`), or one array per sequence (Kaldi, Parquet) — and Kaldi's utterance ids.
Only inputs are read: targets, transcripts and label files are neither needed nor looked at.

The Kaldi reader uses the `kaldi` source's own table reader, path resolution and matrix reader
(kaldiio), so an scp that trains also predicts; `npy_dir` files are read with `allow_pickle=False`
and Parquet through pyarrow directly (no conversion into the `datasets` cache for a one-off
read). Problems are `PredictionInputError`s naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nndsl.data.registry import DataSourceError
from nndsl.run.predict_inputs import PredictionInputError, PredictionInputs


def _option(options: Any, name: str, default: Any) -> Any:
    return getattr(options, name, default) if options is not None else default


def read_npz(path: Path, options: Any, pipes: bool) -> PredictionInputs:
    """The archive's inputs (and input lengths, when it has them)."""
    key = _option(options, "inputs_key", "inputs")
    lengths_key = _option(options, "input_lengths_key", "input_lengths")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if key not in archive.files:
                raise PredictionInputError(f"`{path}` has no array {key!r} (it has: "
                                           f"{', '.join(archive.files) or 'none'})")
            inputs = np.asarray(archive[key], dtype=np.float32)
            lengths = (np.asarray(archive[lengths_key], dtype=np.int64)
                       if lengths_key in archive.files else None)
    except (ValueError, OSError, EOFError) as error:
        raise PredictionInputError(f"`{path}` is not a readable npz file: {error}") from None
    return PredictionInputs(inputs, _valid_lengths(path, lengths, inputs), ())


def read_npy_dir(path: Path, options: Any, pipes: bool) -> PredictionInputs:
    """The folder's inputs file (and input lengths file, when present), as `npy_dir` names them."""
    inputs_file = path / _option(options, "inputs_file", "inputs.npy")
    lengths_file = path / _option(options, "input_lengths_file", "input_lengths.npy")
    if not inputs_file.is_file():
        present = ", ".join(sorted(file.name for file in path.glob("*.npy")))
        raise PredictionInputError(f"`{path}` has no {inputs_file.name} (it has: {present})")

    def load(file: Path, dtype: Any) -> np.ndarray:
        try:
            return np.asarray(np.load(file, allow_pickle=False), dtype=dtype)
        except (ValueError, OSError, EOFError, TypeError) as error:
            raise PredictionInputError(f"`{file}` is not a readable numeric .npy array "
                                       f"({error})") from None

    inputs = load(inputs_file, np.float32)
    lengths = load(lengths_file, np.int64) if lengths_file.is_file() else None
    return PredictionInputs(inputs, _valid_lengths(path, lengths, inputs), ())


def _valid_lengths(path: Path, lengths: np.ndarray | None,
                   inputs: np.ndarray) -> np.ndarray | None:
    """Lengths that fit the padded inputs: one per row, each within [1, padded frames]."""
    if lengths is None:
        return None
    if lengths.shape != (len(inputs),) or inputs.ndim < 2:
        raise PredictionInputError(f"`{path}`: {lengths.size} input lengths for "
                                   f"{len(inputs)} padded sequences")
    bad = np.nonzero((lengths < 1) | (lengths > inputs.shape[1]))[0]
    if len(bad):
        raise PredictionInputError(f"`{path}`: example {int(bad[0])} has length "
                                   f"{int(lengths[bad[0]])}, outside [1, {inputs.shape[1]}]")
    return lengths


def read_arrow(path: Path, options: Any, pipes: bool) -> PredictionInputs:
    """The inputs column of a saved data set or of Parquet files (a list of numbers per row, or
    a list of frames per row: sequences, lengths from the rows or the lengths column)."""
    from nndsl.data.lazy_arrow import column_kind, flat_rows

    column_name = _option(options, "inputs_column", "inputs")
    lengths_name = _option(options, "input_lengths_column", None)
    table = _arrow_table(path)
    if column_name not in table.column_names:
        raise PredictionInputError(f"`{path}` has no column {column_name!r} (it has: "
                                   f"{', '.join(table.column_names)})")
    column = table.column(column_name).combine_chunks()
    depth, leaf = column_kind(column)
    if depth not in (1, 2) or leaf not in "bif":
        raise PredictionInputError(f"`{path}`: column {column_name!r} has type {column.type}; "
                                   "inputs are a list of numbers or of frames per row")
    values, counts = flat_rows(column)
    values = values.astype(np.float32)
    if depth == 1:
        if len(set(counts.tolist())) > 1:
            raise PredictionInputError(f"`{path}`: rows of column {column_name!r} hold "
                                       f"{sorted(set(counts.tolist()))[:4]} numbers")
        return PredictionInputs(values.reshape(len(counts), -1), None, ())
    widths = set(flat_rows(column.flatten())[1].tolist())
    if len(widths) > 1:
        raise PredictionInputError(f"`{path}`: frames of column {column_name!r} hold "
                                   f"{sorted(widths)[:4]} numbers")
    frames = values.reshape(-1, widths.pop() if widths else 0)
    rows = np.split(frames, np.cumsum(counts)[:-1])
    if lengths_name is not None and lengths_name in table.column_names:
        lengths = table.column(lengths_name).to_numpy().astype(np.int64)
        bad = next((row for row, (frames_of, length) in enumerate(zip(rows, lengths))
                    if not 1 <= length <= len(frames_of)), None)
        if bad is not None or len(lengths) != len(rows):
            raise PredictionInputError(f"`{path}`: column {lengths_name!r} does not fit the "
                                       f"rows' frames (row {bad or 0})")
        rows = [frames_of[:length] for frames_of, length in zip(rows, lengths)]
    return PredictionInputs(rows, np.array([len(row) for row in rows], dtype=np.int64), ())


def _arrow_table(path: Path) -> Any:
    """A `save_to_disk` folder through `datasets`, Parquet file(s) through pyarrow."""
    from nndsl.data.arrow_files import datasets_library, locate

    try:
        saved, files = locate(str(path), Path.cwd())
        if saved is not None:
            return datasets_library().load_from_disk(str(saved)).data.table
        from pyarrow import concat_tables, parquet

        return concat_tables([parquet.read_table(file) for file in files])
    except DataSourceError as error:
        raise PredictionInputError(f"`{path}`: {error.message}") from None
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise PredictionInputError(f"`{path}`: cannot read the Arrow/Parquet data "
                                   f"({error})") from None


def read_kaldi(path: Path, options: Any, pipes: bool) -> PredictionInputs:
    """Every utterance of a feats.scp (or of a data folder's), in the scp's order, by id."""
    from nndsl.data.kaldi import _read_matrix, _read_table, is_pipe_command

    scp = path / "feats.scp" if path.is_dir() else path
    try:
        specifiers = _read_table(scp, "feats")
        piped = next((utterance for utterance, entry in specifiers.items()
                      if is_pipe_command(entry)), None)
        if piped is not None and not pipes:
            raise PredictionInputError(
                f"`{scp}`: utterance {piped!r} is a pipe command, which would run in a shell; "
                "predict runs them only for a run whose spec says `allow_pipe_commands: true`")
        handles: dict = {}
        try:
            matrices = [np.asarray(_read_matrix(entry, scp, scp.parent, handles),
                                   dtype=np.float32) for entry in specifiers.values()]
        finally:
            for handle in handles.values():
                handle.close()
    except DataSourceError as error:
        raise PredictionInputError(error.message) from None
    widths = {matrix.shape[1:] for matrix in matrices if matrix.ndim == 2}
    odd = next((utterance for utterance, matrix in zip(specifiers, matrices)
                if matrix.ndim != 2 or len(matrix) == 0), None)
    if odd is not None or len(widths) > 1:
        which = odd or next(iter(specifiers))
        raise PredictionInputError(f"`{scp}`: utterance {which!r} is not a (frames, features) "
                                   "matrix of the same size as the others")
    lengths = np.array([len(matrix) for matrix in matrices], dtype=np.int64)
    return PredictionInputs(matrices, lengths, tuple(specifiers))
