"""Backend stage: the spec's metrics as torchmetrics objects, fed from the network output.

accuracy (classes, next tokens or multi-label rows), cer / wer (greedy CTC decoding, then
torchmetrics' character and word error rates over label strings), perplexity (torchmetrics'
Perplexity on next-token logits), mse / mae / r2 (torchmetrics' MeanSquaredError,
MeanAbsoluteError and R2Score on regression outputs), f1_macro / f1_micro (MulticlassF1Score),
topK_accuracy (MulticlassAccuracy with top_k=K), confusion_matrix (MulticlassConfusionMatrix,
test split only and not logged: `nndsl.run.confusion` writes it into the run directory) and
word_accuracy (One-Stage DTW word decoding of a `dtw_prediction` network, `word_accuracy.py`).
Which metric fits which targets is declared in `nndsl.check.compatibility` and checked before
training; a name this module does not build is a bug there, so it raises.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric, R2Score
from torchmetrics.classification import (MulticlassAccuracy, MulticlassConfusionMatrix,
                                         MulticlassF1Score, MultilabelExactMatch)
from torchmetrics.text import CharErrorRate, Perplexity, WordErrorRate

#: Metrics that are matrices, not scores: computed on the test split, never passed to `log`.
UNLOGGED = frozenset({"confusion_matrix"})
#: Regression metrics: fed float outputs and targets of the same shape.
_REGRESSION = {"mse": MeanSquaredError, "mae": MeanAbsoluteError, "r2": R2Score}

#: Label i of a CTC output is written as this code point + i, so label strings are strings.
_LABEL_BASE = 0x4E00


def build_metrics(names: tuple[str, ...], target_kind: str, num_classes: int | None, blank: int,
                  space_label: int | None, decoding: dict | None = None) -> nn.ModuleDict:
    """`decoding` (lexicon, grammar, states_per_label) is what word_accuracy decodes with."""
    metrics: dict[str, Metric] = {}
    for name in names:
        if name == "word_accuracy":
            from nndsl.backend.word_accuracy import WordAccuracy

            if decoding is None:
                raise ValueError("word_accuracy needs the data source's lexicon and grammar")
            metrics[name] = WordAccuracy(**decoding)
            continue
        if name == "accuracy" and target_kind == "multilabel":
            metrics[name] = MultilabelExactMatch(num_labels=num_classes or 1)
        elif name == "accuracy":
            metrics[name] = MulticlassAccuracy(num_classes=num_classes or 2, average="micro")
        elif name == "cer":
            metrics[name] = CharErrorRate()
        elif name == "wer":
            metrics[name] = WordErrorRate()
        elif name == "perplexity":
            metrics[name] = Perplexity()
        elif name in _REGRESSION:
            metrics[name] = _REGRESSION[name]()
        elif name in ("f1_macro", "f1_micro"):
            metrics[name] = MulticlassF1Score(num_classes=num_classes or 2, average=name[3:])
        elif name.startswith("top") and name.endswith("_accuracy"):
            metrics[name] = MulticlassAccuracy(num_classes=num_classes or 2, average="micro",
                                               top_k=int(name[3:-len("_accuracy")]))
        elif name == "confusion_matrix":
            metrics[name] = MulticlassConfusionMatrix(num_classes=num_classes or 2)
        else:
            raise ValueError(f"metric {name!r} is not computed by a single network")
    return nn.ModuleDict(metrics)


def update_metrics(metrics: nn.ModuleDict, output: torch.Tensor,
                   output_lengths: torch.Tensor | None,
                   batch: dict[str, torch.Tensor], blank: int, space_label: int | None) -> None:
    targets = batch["targets"]
    for name, metric in metrics.items():
        if name == "word_accuracy":
            metric.update(output, batch)
        elif name == "accuracy" and isinstance(metric, MultilabelExactMatch):
            metric.update(output.detach(), targets.long())
        elif isinstance(metric, (MulticlassAccuracy, MulticlassF1Score, MulticlassConfusionMatrix)):
            metric.update(output.detach().reshape(-1, output.shape[-1]), targets.reshape(-1).long())
        elif name == "perplexity":
            metric.update(output.detach().float(), targets.long())
        elif name in _REGRESSION:
            predictions = output.detach().float()
            # One output column is a scalar target ([B]); R2Score reads [B, d] as d outputs.
            predictions = predictions.reshape(-1) if predictions[0].numel() == 1 else predictions
            metric.update(predictions, targets.float().reshape(predictions.shape))
        elif name in ("cer", "wer"):
            hypotheses = greedy_decode(output.detach(), output_lengths, blank)
            references = [targets[index, : int(length)].tolist()
                          for index, length in enumerate(batch["target_lengths"])]
            metric.update([label_string(labels, space_label, words=name == "wer")
                           for labels in hypotheses],
                          [label_string(labels, space_label, words=name == "wer")
                           for labels in references])


def greedy_decode(output: torch.Tensor, lengths: torch.Tensor | None,
                  blank: int) -> list[list[int]]:
    """Best path decoding: argmax per frame, merge repeats, drop blanks."""
    best = output.argmax(-1)  # [B, T]
    decoded = []
    for index in range(best.shape[0]):
        frames = best[index, : int(lengths[index])] if lengths is not None else best[index]
        labels, previous = [], None
        for label in frames.tolist():
            if label != previous and label != blank:
                labels.append(label)
            previous = label
        decoded.append(labels)
    return decoded


def label_string(labels: list[int], space_label: int | None, words: bool) -> str:
    """Labels as a string: one character per label; for words, the space label separates words
    (without one, each label is a word, so WER equals the label error rate)."""
    if not words:
        return "".join(chr(_LABEL_BASE + label) for label in labels)
    if space_label is None:
        return " ".join(chr(_LABEL_BASE + label) for label in labels)
    return "".join(" " if label == space_label else chr(_LABEL_BASE + label) for label in labels)
