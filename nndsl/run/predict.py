"""Run stage: `nndsl predict` — a trained run's predictions for a file of inputs.

In: a run directory and a `.csv` or `.npz` file of fixed-shape inputs laid out as the run's data
(CSV: the run's feature columns, by name, or every column but its target; npz: the run's
`inputs_key`, default `inputs`); a target column or array, if present, is ignored. Out: one row per
example — the predicted label (by name where the run recorded class names), each class's
probability and, for an ensemble, each member's predicted label — written as CSV, or as JSON
(with every member's probabilities) when the output file ends in `.json`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nndsl.backend.ensemble.losses import majority_vote, mean_probabilities
from nndsl.run.trained import Predictor, TrainedRun


class PredictionInputError(Exception):
    """A user error about the input file (format, columns, shape); one line, exit 2."""


def read_inputs(run: TrainedRun, path: Path) -> np.ndarray:
    """The file's inputs as float32 [examples, *input_shape]."""
    signature, spec = run.compiled.signature, run.compiled.spec
    assert signature is not None and spec is not None
    if signature.input_kind != "dense":
        raise PredictionInputError(
            f"predict reads fixed-shape inputs; this run's inputs are {signature.input_kind}"
        )
    if not path.is_file():
        raise PredictionInputError(f"`{path}` does not exist")
    options = spec.data.options
    if path.suffix == ".npz":
        key = getattr(options, "inputs_key", "inputs")
        try:
            with np.load(path, allow_pickle=False) as archive:
                if key not in archive.files:
                    raise PredictionInputError(
                        f"`{path}` has no array {key!r} (it has: "
                        f"{', '.join(archive.files) or 'none'})"
                    )
                inputs = np.asarray(archive[key], dtype=np.float32)
        except (ValueError, OSError, EOFError) as error:
            raise PredictionInputError(f"`{path}` is not a readable npz file: {error}") from None
    elif path.suffix == ".csv":
        inputs = _read_csv(path, options, run.feature_names)
    else:
        raise PredictionInputError(f"`{path}`: predict reads .csv or .npz files")
    shape = tuple(signature.input_shape)
    if inputs.ndim >= 1 and inputs.shape[1:] != shape and inputs[0].size == int(np.prod(shape)):
        inputs = inputs.reshape(len(inputs), *shape)  # flat rows for an image-shaped input
    if inputs.shape[1:] != shape:
        raise PredictionInputError(
            f"`{path}`: examples of shape {tuple(inputs.shape[1:])}, but the run's "
            f"network takes {shape}"
        )
    if not np.isfinite(inputs).all():
        row = int(np.argwhere(~np.isfinite(inputs))[0][0])
        raise PredictionInputError(f"`{path}`: example {row} holds NaN or infinity")
    return inputs


def _read_csv(path: Path, options: Any, trained_features: tuple[str, ...] | None) -> np.ndarray:
    """The run's feature columns by name (in the training order), else every column in order."""
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


def predict(run: TrainedRun, inputs: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """The network's outputs for every example: [N, ...], or an ensemble's members' [M, N, ...]."""
    predictor = Predictor(run.network, run.ensemble, run.feature_statistics).eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            chunks.append(predictor(torch.from_numpy(inputs[start : start + batch_size])))
    return torch.cat(chunks, dim=1 if run.ensemble else 0)


def prediction_table(run: TrainedRun, outputs: torch.Tensor) -> dict[str, Any]:
    """Plain data: labels, probabilities, member labels (classes), or values (regression)."""
    kind = run.target_kind
    table: dict[str, Any] = {"target_kind": kind}
    if kind == "class":
        if run.ensemble:
            members = outputs
            probabilities = mean_probabilities(members)
            plan = run.compiled.plan
            chosen = (
                majority_vote(members)
                if plan and plan.ensemble and plan.ensemble.combine == "vote"
                else probabilities.argmax(-1)
            )
            table["member_labels"] = [
                [_name(run, int(index)) for index in member.argmax(-1)] for member in members
            ]
            table["member_probabilities"] = members.softmax(-1).tolist()
        else:
            probabilities = outputs.softmax(-1)
            chosen = probabilities.argmax(-1)
        table["classes"] = [_name(run, index) for index in range(probabilities.shape[-1])]
        table["labels"] = [_name(run, int(index)) for index in chosen]
        table["probabilities"] = probabilities.tolist()
    else:
        values = outputs.mean(0) if run.ensemble else outputs
        table["values"] = values.reshape(len(values), -1).tolist()
        if run.ensemble:
            table["member_values"] = outputs.reshape(
                outputs.shape[0], outputs.shape[1], -1
            ).tolist()
    return table


def _name(run: TrainedRun, index: int) -> str:
    names = run.class_names
    return names[index] if names and index < len(names) else str(index)


def table_text(table: dict[str, Any], as_json: bool) -> str:
    """The predictions as JSON, or as CSV (one row per example; JSON keeps member probabilities)."""
    if as_json:
        return json.dumps(table, indent=1) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if table["target_kind"] == "class":
        members = table.get("member_labels", [])
        writer.writerow(
            [
                "example",
                "label",
                *(f"p_{name}" for name in table["classes"]),
                *(f"member{index + 1}_label" for index in range(len(members))),
            ]
        )
        for row, (label, probabilities) in enumerate(zip(table["labels"], table["probabilities"])):
            writer.writerow(
                [
                    row,
                    label,
                    *(f"{value:.6g}" for value in probabilities),
                    *(member[row] for member in members),
                ]
            )
    else:
        width = len(table["values"][0]) if table["values"] else 1
        writer.writerow(
            ["example", *(f"value{index}" if width > 1 else "value" for index in range(width))]
        )
        for row, values in enumerate(table["values"]):
            writer.writerow([row, *(f"{value:.6g}" for value in values)])
    return buffer.getvalue()
