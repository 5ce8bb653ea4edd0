"""Check stage: do the loss, metrics, monitored values and declared input fit the data?"""

from __future__ import annotations

from collections.abc import Callable

from nndsl.data.registry import DataSignature
from nndsl.diagnostics import DiagnosticList, Span
from nndsl.layers import format_shape
from nndsl.spec import Spec
from nndsl.spec.schedule import TopDownPhase

Locator = Callable[[tuple[str | int, ...]], Span | None]

LOSS_TARGETS = {
    "cross_entropy": ("class", "next_token"),
    "nll": ("class", "next_token"),
    "mse": ("regression",),
    "binary_cross_entropy": ("multilabel",),
    "ctc": ("label_sequence",),
    "dtw_prediction": ("label_sequence",),
}
METRIC_TARGETS = {
    "accuracy": ("class", "next_token", "multilabel"),
    "oracle_accuracy": ("class", "next_token"),
    "cer": ("label_sequence",),
    "wer": ("label_sequence",),
    "perplexity": ("next_token", "class"),
    "mse": ("regression",),
}


def logged_metrics(spec: Spec) -> set[str]:
    """Every metric name a run logs, as monitors write them (valid/loss, valid/cer, ...)."""
    names = {"loss", *spec.metrics}
    if spec.ensemble is not None:
        names.add("oracle_accuracy")
    return {f"{split}/{name}" for split in ("train", "valid") for name in names}


def check_input_shape(spec: Spec, signature: DataSignature, locate: Locator,
                      diagnostics: DiagnosticList) -> None:
    """`network.input.shape`, when written, must be the data's example shape (E502).

    Sizes must be equal; a variable length (any name such as "T") matches only a variable length.
    """
    if spec.network.input is None:
        return
    declared, actual = tuple(spec.network.input.shape), tuple(signature.input_shape)
    fits = len(declared) == len(actual) and all(
        isinstance(mine, str) and isinstance(theirs, str) or mine == theirs
        for mine, theirs in zip(declared, actual))
    if not fits:
        declared_text, actual_text = format_shape(declared), format_shape(actual)
        diagnostics.add("E502", f"`network.input.shape` is {declared_text}, but "
                        f"`{spec.data.source}` yields examples of shape {actual_text}",
                        locate(("network", "input", "shape")),
                        "remove `network.input` to take the data's shape, or change the data")


def check_targets(spec: Spec, signature: DataSignature, locate: Locator, diagnostics: DiagnosticList) -> None:
    target = signature.target_kind
    if target not in LOSS_TARGETS[spec.loss.type]:
        fitting = [loss for loss, kinds in LOSS_TARGETS.items() if target in kinds]
        diagnostics.add("E408", f"loss `{spec.loss.type}` does not fit `{spec.data.source}`, whose targets are "
                        f"{target}", locate(("loss", "type")), f"use {' or '.join(fitting)}" if fitting else None)
    for index, metric in enumerate(spec.metrics):
        if target not in METRIC_TARGETS[metric]:
            diagnostics.add("E409", f"metric `{metric}` does not fit {target} targets",
                            locate(("metrics", index)), "remove it or choose another metric")
        elif spec.loss.type == "dtw_prediction" and metric in ("cer", "wer"):
            # the network forecasts frames; there are no label scores to decode greedily
            diagnostics.add("E409", f"metric `{metric}` reads label scores, but a dtw_prediction "
                            "network outputs frame predictions", locate(("metrics", index)),
                            "remove it (benchmarks/lpnn.py decodes words by One-Stage DTW)")
    logged = logged_metrics(spec)
    monitors: list[tuple[tuple, str]] = []
    for index, phase in enumerate(spec.schedule):
        monitors.append((("schedule", index, "stop", "monitor"), phase.stop.monitor))
        if isinstance(phase, TopDownPhase):
            monitors.append((("schedule", index, "monitor"), phase.monitor))
    if spec.trainer.scheduler and spec.trainer.scheduler.type == "plateau":
        monitors.append((("trainer", "scheduler", "monitor"), spec.trainer.scheduler.monitor))
    for path, monitor in monitors:
        if monitor not in logged:
            from nndsl.diagnostics import did_you_mean
            diagnostics.add("E407", f"`{monitor}` is never logged", locate(path),
                            did_you_mean(monitor, logged) or f"logged: {', '.join(sorted(logged))}")
    if spec.data.valid_fraction == 0:
        for path, monitor in monitors:
            if monitor.startswith("valid/"):
                diagnostics.add("E407", f"`{monitor}` needs a validation set, but data.valid_fraction is 0",
                                locate(path), "set data.valid_fraction, e.g. 0.1")
                break
    if signature.fixed_test_count and spec.data.test_fraction:
        diagnostics.add("E412", f"`{spec.data.source}` fixes its own test set of {signature.fixed_test_count} "
                        "examples", locate(("data", "test_fraction")), "remove test_fraction")
