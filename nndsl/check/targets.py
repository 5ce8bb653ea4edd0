"""Check stage: do the loss, metrics, monitored values and declared input fit the data?"""

from __future__ import annotations

from nndsl.check.compatibility import check_compatibility
from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext
from nndsl.layers import format_shape
from nndsl.spec import Spec
from nndsl.spec.schedule import EvaluatePhase, TopDownPhase


def logged_metrics(spec: Spec, target_kind: str | None = None) -> set[str]:
    """Every metric name a run logs, as monitors write them (valid/loss, valid/cer, ...).

    An ensemble run on class targets (or targets not known) also logs the combined prediction's
    accuracy and the oracle accuracy, whether listed or not. Metrics are computed on the
    validation (and test) split; training logs its loss only."""
    names = {"loss", *spec.metrics} - {"confusion_matrix"}  # a matrix, written at test time
    if spec.ensemble is not None and target_kind in (None, "class"):
        names.update(("accuracy", "oracle_accuracy"))
    return {"train/loss", *(f"valid/{name}" for name in names)}


def check_input_shape(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """`network.input.shape`, when written, must be the data's example shape (E502).

    Sizes must be equal; a variable length (any name such as "T") matches only a variable length.
    """
    locate, diagnostics = context.locate, context.diagnostics
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


def check_targets(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Loss, metrics and ensemble options fit the targets; monitored values are logged."""
    check_compatibility(spec, signature, context)
    check_monitors(spec, signature, context)


def check_monitors(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Every monitored value is logged (E407); the data's own test set (E412)."""
    locate, diagnostics = context.locate, context.diagnostics
    logged = logged_metrics(spec, signature.target_kind)
    monitors: list[tuple[tuple, str]] = []
    for index, phase in enumerate(spec.schedule):
        if isinstance(phase, EvaluatePhase):
            continue  # it monitors nothing (and says so itself when it has no split, E473)
        monitors.append((("schedule", index, "stop", "monitor"), phase.stop.monitor))
        if isinstance(phase, TopDownPhase):
            monitors.append((("schedule", index, "monitor"), phase.monitor))
    from nndsl.check.scheduler import scheduler_places

    # (An `optimizer:` with errors is a stand-in without a scheduler: nothing is read from it.)
    for path, scheduler, _ in scheduler_places(spec):
        if scheduler.type == "plateau":
            monitors.append(((*path, "monitor"), scheduler.monitor))
    for path, monitor in monitors:
        if monitor not in logged:
            from nndsl.diagnostics import did_you_mean
            diagnostics.add("E407", f"`{monitor}` is never logged", locate(path),
                            did_you_mean(monitor, logged) or f"logged: {', '.join(sorted(logged))}")
    if spec.data.valid_fraction == 0:
        for path, monitor in monitors:
            if monitor.startswith("valid/"):
                diagnostics.add("E407", f"`{monitor}` needs a validation set, but "
                                        f"data.valid_fraction is 0",
                                locate(path), "set data.valid_fraction, e.g. 0.1")
                break
    if signature.fixed_test_count and spec.data.test_fraction:
        diagnostics.add("E412", f"`{spec.data.source}` fixes its own test set of "
                        f"{signature.fixed_test_count} examples", locate(("data", "test_fraction")),
                        "remove test_fraction")
