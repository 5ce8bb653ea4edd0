"""Check stage: which losses and metrics a run can compute, declared once per loss and metric.

In: a spec and its data's `DataSignature`. Out: diagnostics (E408 loss, E409 metric, E425 a
loss or ensemble option that would have no effect), so that a combination the backend cannot
compute is an error at `nndsl validate`, not a crash inside torchmetrics after the run directory
exists.

The tables are the single source of truth; the check functions only read them. To add a loss or
a metric, add its backend implementation and one entry here:

    LOSSES["my_loss"] = LossFit(targets=("regression",), in_ensemble=("regression",))
    METRICS["my_metric"] = MetricFit(targets=("class",), in_ensemble=("class",))

`targets` lists the `DataSignature.target_kind`s a single network computes it for;
`in_ensemble` those an ensemble run computes it for (the ensemble module takes one loss per
member and example, and logs a combined prediction's metrics only; empty: never in an
ensemble); `ensemble_only` marks a metric that exists only for ensembles (the oracle accuracy
needs several members' predictions). A new `LossType` or `MetricName` without an entry here
fails tests/check/test_compatibility.py.
"""

from __future__ import annotations

from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext
from nndsl.records import Record
from nndsl.spec import Spec


class LossFit(Record):
    """Where a loss is defined: target kinds for one network and for an ensemble's members,
    and the `loss:` options each reads (any other option written is refused, never ignored)."""

    targets: tuple[str, ...]
    in_ensemble: tuple[str, ...] = ()
    options: tuple[str, ...] = ("reduction",)
    ensemble_options: tuple[str, ...] = ()


class MetricFit(Record):
    """Where a metric is computed: target kinds for one network and for an ensemble run."""

    targets: tuple[str, ...]
    in_ensemble: tuple[str, ...] = ()
    ensemble_only: bool = False
    # losses whose networks output something else than the label scores the metric reads
    not_with_losses: tuple[str, ...] = ()
    # the one loss whose networks the metric reads (None: any loss not refused above)
    only_with_loss: str | None = None
    # the metric decodes words with the source's lexicon and grammar
    needs_lexicon: bool = False


LOSSES: dict[str, LossFit] = {
    # An ensemble scores each member on each example ([M, B] losses): not per token or frame.
    # Its per-member losses are unreduced and plain (the oracle loss reduces them its own way).
    "cross_entropy": LossFit(targets=("class", "next_token"), in_ensemble=("class",),
                             options=("reduction", "label_smoothing")),
    "nll": LossFit(targets=("class", "next_token"), in_ensemble=("class",)),
    "mse": LossFit(targets=("regression",), in_ensemble=("regression",)),
    "binary_cross_entropy": LossFit(targets=("multilabel",), in_ensemble=("multilabel",),
                                    options=("reduction", "zero_error_radius")),
    "ctc": LossFit(targets=("label_sequence",), options=("reduction", "blank")),
    # linked predictive nets: the output is every predictor's forecast of every frame
    "dtw_prediction": LossFit(targets=("label_sequence",),
                              options=("reduction", "states_per_label")),
}
METRICS: dict[str, MetricFit] = {
    "accuracy": MetricFit(targets=("class", "next_token", "multilabel"), in_ensemble=("class",)),
    "oracle_accuracy": MetricFit(targets=(), in_ensemble=("class",), ensemble_only=True),
    "cer": MetricFit(targets=("label_sequence",), not_with_losses=("dtw_prediction",)),
    "wer": MetricFit(targets=("label_sequence",), not_with_losses=("dtw_prediction",)),
    # torchmetrics' Perplexity takes [batch, sequence, vocabulary] logits: next tokens only.
    "perplexity": MetricFit(targets=("next_token",)),
    "mse": MetricFit(targets=("regression",)),
    "f1_macro": MetricFit(targets=("class",)),
    "f1_micro": MetricFit(targets=("class",)),
    # top-k needs more than k classes (checked by `check_top_k`, E460).
    "top2_accuracy": MetricFit(targets=("class",)),
    "top3_accuracy": MetricFit(targets=("class",)),
    "top5_accuracy": MetricFit(targets=("class",)),
    # Computed on the test split only; written as confusion_matrix.json/.png, not logged.
    "confusion_matrix": MetricFit(targets=("class",)),
    "mae": MetricFit(targets=("regression",)),
    "r2": MetricFit(targets=("regression",)),
    # noise-reduction ratio 10·log10(Σ(d - y)² / Σd²) dB of a noise canceller
    "nrr": MetricFit(targets=("regression",)),
    # One-Stage DTW over word models built from the source's lexicon and grammar
    "word_accuracy": MetricFit(targets=("label_sequence",), only_with_loss="dtw_prediction",
                               needs_lexicon=True),
}


def metric_targets(name: str, ensemble: bool) -> tuple[str, ...]:
    """The target kinds for which metric `name` is computed in this kind of run."""
    fit = METRICS[name]
    return fit.in_ensemble if ensemble else fit.targets


def check_loss(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """The loss must be defined for the data's target kind (E408)."""
    locate, diagnostics = context.locate, context.diagnostics
    target = signature.target_kind
    fit = LOSSES[spec.loss.type]
    if target in fit.targets and spec.ensemble is not None and target not in fit.in_ensemble:
        diagnostics.add("E408", f"loss `{spec.loss.type}` on {target} targets cannot train an "
                        "ensemble (its members are scored per example)", locate(("ensemble",)),
                        "train the members as separate runs, or remove `ensemble:`")
        return
    if target in fit.targets:
        return
    fitting = [loss for loss, fit in LOSSES.items() if target in fit.targets]
    diagnostics.add("E408", f"loss `{spec.loss.type}` does not fit `{spec.data.source}`, whose "
                    f"targets are {target}", locate(("loss", "type")),
                    f"use {' or '.join(fitting)}" if fitting else None)


def check_loss_options(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Every option written under `loss:` is one this loss reads in this kind of run (E425)."""
    locate, diagnostics = context.locate, context.diagnostics
    fit = LOSSES[spec.loss.type]
    ensemble = spec.ensemble is not None
    used = fit.ensemble_options if ensemble else fit.options
    # `terms` weighs the layers' terms, whatever the loss (`nndsl.check.loss_terms`).
    for option in sorted(spec.loss.model_fields_set - {"type", "terms"} - set(used)):
        reason = (f"an ensemble's `{spec.loss.type}` scores each member without it" if ensemble
                  and option in fit.options else f"`{spec.loss.type}` does not use it")
        diagnostics.add("E425", f"`loss.{option}` would have no effect: {reason}",
                        locate(("loss", option)), f"remove `{option}`")


def check_metrics(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Every listed metric must be computed for the target kind in this kind of run (E409)."""
    locate, diagnostics = context.locate, context.diagnostics
    target = signature.target_kind
    ensemble = spec.ensemble is not None
    fitting = [name for name in METRICS if target in metric_targets(name, ensemble)]
    offer = f"metrics that fit: {', '.join(fitting)}" if fitting else "remove it (none fits)"
    for index, metric in enumerate(spec.metrics):
        fit = METRICS[metric]
        if spec.loss.type in fit.not_with_losses:
            diagnostics.add("E409", f"metric `{metric}` reads label scores, but a "
                            f"`{spec.loss.type}` network outputs something else",
                            locate(("metrics", index)), "remove it")
            continue
        if fit.only_with_loss is not None and spec.loss.type != fit.only_with_loss:
            diagnostics.add("E409", f"metric `{metric}` decodes the output of a "
                            f"`{fit.only_with_loss}` network, not a `{spec.loss.type}` one",
                            locate(("metrics", index)), f"use loss `{fit.only_with_loss}`, or "
                            "remove it")
            continue
        if fit.needs_lexicon and target in fit.targets and not signature.word_lexicon:
            diagnostics.add("E409", f"metric `{metric}` decodes words, but `{spec.data.source}` "
                            "gives no lexicon and grammar", locate(("metrics", index)),
                            "use a source with words (synthetic_phones), or remove it")
            continue
        if target in metric_targets(metric, ensemble):
            continue
        if fit.ensemble_only and not ensemble:
            message = f"metric `{metric}` needs an ensemble (an `ensemble:` section)"
        elif ensemble and target in fit.targets:
            message = (f"metric `{metric}` is not computed for an ensemble's {target} targets "
                       "(an ensemble run scores the combined prediction)")
        else:
            message = f"metric `{metric}` does not fit {target} targets"
        diagnostics.add("E409", message, locate(("metrics", index)), offer)


def check_ensemble_options(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """`combine` scores a combined class prediction; on other targets nothing uses it (E425)."""
    locate, diagnostics = context.locate, context.diagnostics
    target = signature.target_kind
    ensemble = spec.ensemble
    if ensemble is None or "combine" not in ensemble.model_fields_set or target == "class":
        return
    diagnostics.add("E425", f"`ensemble.combine` has no effect on {target} targets: an ensemble "
                    "run combines predictions only to score classes",
                    locate(("ensemble", "combine")), "remove `combine`")


def top_k(name: str) -> int | None:
    """k of a `topK_accuracy` metric name, else None."""
    if name.startswith("top") and name.endswith("_accuracy"):
        return int(name[3:-len("_accuracy")])
    return None


def check_top_k(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """A top-k accuracy needs more than k classes, or every prediction would count (E460)."""
    locate, diagnostics = context.locate, context.diagnostics
    classes = signature.num_classes
    if signature.target_kind != "class" or classes is None:
        return
    for index, metric in enumerate(spec.metrics):
        k = top_k(metric)
        if k is not None and k >= classes:
            diagnostics.add("E460", f"metric `{metric}` needs more than {k} classes; "
                            f"`{spec.data.source}` has {classes}", locate(("metrics", index)),
                            "use a smaller k, or `accuracy`")


def check_compatibility(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Loss, metrics and ensemble options against the data's target kind."""
    check_loss(spec, signature, context)
    check_loss_options(spec, signature, context)
    check_metrics(spec, signature, context)
    check_ensemble_options(spec, signature, context)
    check_top_k(spec, signature, context)
