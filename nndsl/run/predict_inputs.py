"""Run stage: the inputs `nndsl predict` reads, in any of the data kinds nndsl trains on.

In: a trained run and a path. The path's form says its kind: a `.csv` or `.npz` file, a folder of
`.npy` files (as `npy_dir`), Parquet file(s) or a `save_to_disk` folder (as `arrow`), a Kaldi
`feats.scp` or a Kaldi data folder holding one. Out: `PredictionInputs`, the examples as one
float32 array (variable-length sequences zero-padded, with their frame counts) and one
identifier per example (Kaldi utterance ids; row numbers otherwise). Key, column and file names
come from the run's own `data:` section when it used the same kind, else the source defaults.

Inputs that do not fit the run (a sequence file for a fixed-shape network or the other way
round, another feature size, token data) raise `PredictionInputError`, one line, exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nndsl.run.trained import TrainedRun

KINDS = ("a .csv or .npz file, a folder of .npy files (npy_dir), Parquet files or a "
         "save_to_disk folder (arrow), or Kaldi features (feats.scp or its data folder)")


class PredictionInputError(Exception):
    """A user error about the input file (format, columns, shape); one line, exit 2."""


@dataclass(frozen=True)
class PredictionInputs:
    """Examples for the network: `inputs` [N, *shape] for fixed-shape examples, or for sequences
    one [frames, *frame] array per example (padded files may give [N, T, *frame] with `lengths`
    before checking), `lengths` [N] frames per sequence (None for fixed-shape inputs), `ids` one
    name per example (empty: row numbers)."""

    inputs: np.ndarray | list[np.ndarray]
    lengths: np.ndarray | None
    ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.inputs)


def data_kind(path: Path) -> str:
    """"csv", "npz", "npy_dir", "arrow" or "kaldi", from the path's form (no file is read)."""
    if path.is_dir():
        if (path / "feats.scp").is_file():
            return "kaldi"
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file() \
                or any(path.glob("*.parquet")):
            return "arrow"
        if any(path.glob("*.npy")):
            return "npy_dir"
        raise PredictionInputError(f"`{path}` is a folder without feats.scp, .npy files or "
                                   f"Arrow/Parquet data; predict reads {KINDS}")
    if not path.is_file() and "*" in path.name and path.parent.is_dir():
        return "arrow"  # a glob of Parquet files, as the arrow source takes
    if not path.is_file():
        raise PredictionInputError(f"`{path}` does not exist")
    kind = {".csv": "csv", ".npz": "npz", ".scp": "kaldi", ".parquet": "arrow"}.get(path.suffix)
    if kind is None:
        where = " (give the folder holding it)" if path.suffix == ".npy" else ""
        raise PredictionInputError(f"`{path}`{where}: predict reads {KINDS}")
    return kind


def read_inputs(run: TrainedRun, path: Path) -> PredictionInputs:
    """The file's examples, checked against the run's network input (kind and shape)."""
    signature, spec = run.compiled.signature, run.compiled.spec
    assert signature is not None and spec is not None
    if signature.input_kind == "tokens":
        raise PredictionInputError(f"predict reads feature inputs; this run's inputs are token "
                                   f"ids (source `{spec.data.source}`)")
    kind = data_kind(path)
    # The run's own key/column names where it trained on the same kind of data.
    options = spec.data.options if spec.data.source == kind else None
    sequence = signature.input_kind == "sequence"
    if kind == "csv":
        if sequence:
            raise PredictionInputError(f"`{path}`: a CSV table holds fixed-shape rows, but this "
                                       f"run's network takes sequences {_shape(signature)}")
        inputs = PredictionInputs(_read_csv(path, options, run.feature_names), None, ())
    else:
        from nndsl.run import predict_files

        reader = {"npz": predict_files.read_npz, "npy_dir": predict_files.read_npy_dir,
                  "arrow": predict_files.read_arrow, "kaldi": predict_files.read_kaldi}[kind]
        inputs = reader(path, options, _pipes_allowed(spec))
    return _checked(inputs, path, kind, signature)


def _pipes_allowed(spec: Any) -> bool:
    """Kaldi pipe entries run as shell commands only where the run's spec allowed them."""
    return spec.data.source == "kaldi" and bool(spec.data.options.allow_pipe_commands)


def _shape(signature: Any) -> str:
    return "(" + ", ".join(str(size) for size in signature.input_shape) + ")"


def _checked(found: PredictionInputs, path: Path, kind: str, signature: Any) -> PredictionInputs:
    """`found` with ids, fitting the network's input: same kind, same (frame) shape, finite;
    sequences as one unpadded array per example."""
    inputs, lengths = found.inputs, found.lengths
    if len(inputs) == 0:
        raise PredictionInputError(f"`{path}` holds no examples")
    ids = found.ids or tuple(str(row) for row in range(len(inputs)))
    if signature.input_kind == "sequence":
        if lengths is None and not isinstance(inputs, list) and kind in ("npz", "npy_dir") \
                and inputs.ndim == 1 + len(signature.input_shape):
            lengths = np.full(len(inputs), inputs.shape[1], dtype=np.int64)  # all frames valid
        if lengths is None:
            raise PredictionInputError(f"`{path}` holds fixed-shape examples, but this run's "
                                       f"network takes sequences {_shape(signature)}")
        rows = inputs if isinstance(inputs, list) else [
            inputs[row, : int(length)] for row, length in enumerate(lengths)]
        frame = tuple(signature.input_shape[1:])
        for name, row in zip(ids, rows):
            if row.shape[1:] != frame:
                raise PredictionInputError(f"`{path}`: example {name} has frames of shape "
                                           f"{tuple(row.shape[1:])}, but the run's network "
                                           f"takes frames of {frame}")
            _finite(row, path, name)
        return PredictionInputs([row.astype(np.float32, copy=False) for row in rows],
                                np.array([len(row) for row in rows], dtype=np.int64), ids)
    if lengths is not None or isinstance(inputs, list):
        raise PredictionInputError(f"`{path}` holds variable-length sequences, but this run's "
                                   f"network takes fixed-shape inputs {_shape(signature)}")
    shape = tuple(signature.input_shape)
    if inputs.ndim >= 2 and inputs.shape[1:] != shape and inputs[0].size == int(np.prod(shape)):
        inputs = inputs.reshape(len(inputs), *shape)  # flat rows for an image-shaped input
    if inputs.shape[1:] != shape:
        raise PredictionInputError(f"`{path}`: examples of shape {tuple(inputs.shape[1:])}, "
                                   f"but the run's network takes {shape}")
    bad = np.argwhere(~np.isfinite(inputs))
    if len(bad):
        raise PredictionInputError(f"`{path}`: example {ids[int(bad[0][0])]} holds NaN or "
                                   "infinity")
    return PredictionInputs(inputs.astype(np.float32, copy=False), None, ids)


def _finite(example: np.ndarray, path: Path, name: str) -> None:
    if not np.isfinite(example).all():
        raise PredictionInputError(f"`{path}`: example {name} holds NaN or infinity")


def _read_csv(path: Path, options: Any, trained_features: tuple[str, ...] | None) -> np.ndarray:
    """The run's feature columns by name (in the training order), else every column in order."""
    import csv

    delimiter = getattr(options, "delimiter", ",")
    rows = list(csv.reader(path.open(encoding="utf-8", newline=""), delimiter=delimiter))
    if not rows:
        raise PredictionInputError(f"`{path}` is empty")
    header, body = [name.strip() for name in rows[0]], [row for row in rows[1:] if row]
    target = getattr(options, "target", None)
    features = list(
        trained_features
        or getattr(options, "features", None)
        or [name for name in header if name != target]
    )
    missing = [name for name in features if name not in header]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise PredictionInputError(
            f"`{path}` lacks the run's feature column(s) {', '.join(missing[:5])}{more}"
        )
    columns = [header.index(name) for name in features]
    values = []
    for line, row in enumerate(body, start=2):
        try:
            values.append([float(row[column]) for column in columns])
        except (ValueError, IndexError):
            raise PredictionInputError(
                f"`{path}`, line {line}: a feature is missing or not a number"
            ) from None
    return np.asarray(values, dtype=np.float32).reshape(len(values), len(columns))
