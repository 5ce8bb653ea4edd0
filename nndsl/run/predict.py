"""Run stage: `nndsl predict` — a trained run's predictions for the examples of a data file.

In: a trained run and `PredictionInputs` (`nndsl.run.predict_inputs`: fixed-shape examples, or
padded sequences with their lengths, each with an id). Out: one entry per example id — the
predicted label (by name where the run recorded class names), each class's probability and, for
an ensemble, each member's label and probabilities; for CTC runs the best-path label sequence
and transcript through the run's stored label map; for regression the values — written as CSV,
or as JSON (with every member's probabilities) when the output file ends in `.json`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from nndsl.backend.ensemble.losses import majority_vote, mean_probabilities
from nndsl.run.predict_inputs import PredictionInputs
from nndsl.run.trained import Predictor, TrainedRun


def predict(run: TrainedRun, examples: PredictionInputs,
            batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The network's outputs for every example: [N, ...], or an ensemble's members' [M, N, ...];
    and for sequences the output lengths [N] (None for fixed-shape inputs).

    Sequences are standardised as training did (their padding stays zero), then run through the
    network with their lengths, a batch padded to its own longest example."""
    if examples.lengths is None:
        predictor = Predictor(run.network, run.ensemble, run.feature_statistics).eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(examples), batch_size):
                batch = torch.from_numpy(examples.inputs[start : start + batch_size])
                chunks.append(predictor(batch))
        return torch.cat(chunks, dim=1 if run.ensemble else 0), None
    # Sequences in order of length, so a batch pads little; outputs go back to file order.
    rows, lengths = examples.inputs, examples.lengths
    outputs: list[torch.Tensor] = [torch.empty(0)] * len(rows)
    output_lengths = torch.zeros(len(rows), dtype=torch.long)
    order = np.argsort(lengths, kind="stable")
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch_lengths = lengths[chosen]
            batch = pad_sequence([torch.from_numpy(rows[row]) for row in chosen],
                                 batch_first=True).numpy()
            if run.feature_statistics is not None:  # as training did; padding stays zero
                batch = run.feature_statistics.apply(batch, batch_lengths)
            output, output_length = run.network(torch.from_numpy(batch),
                                                torch.from_numpy(batch_lengths))
            if output_length is None:
                output_length = torch.from_numpy(batch_lengths)
            for position, row in enumerate(chosen):
                outputs[row] = output[position]
                output_lengths[row] = int(output_length[position])
    return _stacked(outputs), output_lengths


def _stacked(outputs: list[torch.Tensor]) -> torch.Tensor:
    """Per-example outputs stacked; outputs over time zero-padded to the longest."""
    if all(output.dim() <= 1 for output in outputs):
        return torch.stack(outputs)
    return pad_sequence(outputs, batch_first=True)


def prediction_table(run: TrainedRun, outputs: torch.Tensor,
                     output_lengths: torch.Tensor | None = None,
                     ids: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Plain data, one entry per example id: labels, probabilities, member labels (classes),
    transcripts and label sequences (CTC, best path through the stored label map), or values."""
    kind = run.target_kind
    count = outputs.shape[1] if run.ensemble else outputs.shape[0]
    table: dict[str, Any] = {"target_kind": kind,
                             "ids": list(ids) if ids else [str(row) for row in range(count)]}
    if kind == "label_sequence":
        table.update(_transcripts(run, outputs, output_lengths))
    elif kind == "class":
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
        table["values"] = _rows(values, output_lengths)
        if run.ensemble:
            table["member_values"] = [_rows(member, output_lengths) for member in outputs]
    return table


def _rows(values: torch.Tensor, lengths: torch.Tensor | None) -> list[list[float]]:
    """Each example's values as one flat row (an output over time cut to its valid frames)."""
    if lengths is None or values.dim() < 3:
        return values.reshape(len(values), -1).tolist()
    return [value[: int(length)].reshape(-1).tolist() for value, length in zip(values, lengths)]


def _transcripts(run: TrainedRun, outputs: torch.Tensor,
                 lengths: torch.Tensor | None) -> dict[str, Any]:
    """Best-path decoding of CTC outputs [N, T, labels]: each example's label names and its
    transcript (the symbols joined, the space symbol as a space; label numbers separated by
    spaces for a run without a label map)."""
    from nndsl.backend.metrics import greedy_decode

    options = run.compiled.spec.data.options
    space = getattr(options, "space_symbol", "<space>")
    blank = getattr(run.compiled.plan.loss, "blank", 0)
    sequences = [[_name(run, label) for label in labels]
                 for labels in greedy_decode(outputs, lengths, blank)]
    if not run.class_names:  # no label map (numbered labels): the numbers, space-separated
        return {"label_sequences": sequences,
                "transcripts": [" ".join(names) for names in sequences]}
    return {"label_sequences": sequences,
            "transcripts": ["".join(" " if name == space else name for name in names)
                            for names in sequences]}


def _name(run: TrainedRun, index: int) -> str:
    names = run.class_names
    return names[index] if names and index < len(names) else str(index)


def table_text(table: dict[str, Any], as_json: bool) -> str:
    """The predictions as JSON, or as CSV (one row per example id; JSON keeps member
    probabilities and CTC label sequences)."""
    if as_json:
        return json.dumps(table, indent=1) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    ids = table["ids"]
    if table["target_kind"] == "label_sequence":
        writer.writerow(["example", "transcript"])
        writer.writerows(zip(ids, table["transcripts"]))
    elif table["target_kind"] == "class":
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
                    ids[row],
                    label,
                    *(f"{value:.6g}" for value in probabilities),
                    *(member[row] for member in members),
                ]
            )
    else:
        width = max((len(values) for values in table["values"]), default=1)
        writer.writerow(
            ["example", *(f"value{index}" if width > 1 else "value" for index in range(width))]
        )
        for row, values in enumerate(table["values"]):
            writer.writerow([ids[row], *(f"{value:.6g}" for value in values)])
    return buffer.getvalue()
