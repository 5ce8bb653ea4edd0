"""Spec stage: `loss:`, `metrics:`, `optimizer:` (with its learning-rate scheduler) and
`trainer:`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from nndsl.spec.base import SpecModel, spec_error

TermWeight = Annotated[float, Field(ge=0, le=1e6)]
LossType = Literal["cross_entropy", "nll", "mse", "binary_cross_entropy", "ctc", "dtw_prediction"]
MetricName = Literal["accuracy", "cer", "wer", "perplexity", "mse", "oracle_accuracy", "f1_macro",
                     "f1_micro", "top2_accuracy", "top3_accuracy", "top5_accuracy",
                     "confusion_matrix", "mae", "r2", "word_accuracy", "nrr"]


class LossSpec(SpecModel):
    """The training loss."""

    type: LossType = Field(description="cross_entropy, nll, mse, binary_cross_entropy, ctc or "
                                       "dtw_prediction (linked predictive nets)")
    blank: int = Field(0, ge=0, description="CTC blank label")
    states_per_label: int = Field(1, ge=1, le=64, description="dtw_prediction: predictors (states) "
                                                               "per label, left to right")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="cross-entropy label smoothing")
    reduction: Literal["mean", "sum"] = Field("mean", description="average or sum the loss over "
                                                                  "the batch (tempering's batch "
                                                                  "updates sum)")
    zero_error_radius: float = Field(0.0, ge=0, lt=0.5,
                                     description="binary targets: no error within this distance of "
                                                 "0/1 (targets shifted to 1-r / r, as in "
                                                 "tempering's Table 1)")
    terms: dict[str, TermWeight | dict[str, TermWeight]] = Field(
        default_factory=dict, description="weights of the loss terms layers add (`nndsl show` "
                                          "lists them): `{kl: 0.5}` for every layer's term, "
                                          "`{drop1: {kl: 2}}` for one layer's (which wins); 1 "
                                          "for a term not named")


class SchedulerSpec(SpecModel):
    """A learning-rate scheduler from torch.optim.lr_scheduler, optionally after a linear warmup.

    The options each type reads, and the combinations that are refused, are checked in
    `nndsl.check.scheduler`; the backend composes torch's schedulers (`SequentialLR` of
    `LinearLR` then the main one) in `nndsl.backend.optimizers`.
    """

    type: Literal["step", "plateau", "cosine", "constant", "one_cycle"] = Field(
        description="step, plateau, cosine, constant (after warmup) or one_cycle")
    step_size: int = Field(10, ge=1, le=1_000_000, description="step: intervals between decays")
    gamma: float = Field(0.1, gt=0, le=1, description="step/plateau: decay factor")
    patience: int = Field(2, ge=0, le=10_000, description="plateau: epochs without improvement")
    monitor: str = Field("valid/loss", description="plateau: the metric watched")
    max_epochs: int | None = Field(
        None, ge=1, le=100_000,
        description="cosine: period in epochs (default: the phase's epochs)")
    interval: Literal["epoch", "step"] | None = Field(
        None, description="when the rate changes: every epoch or every optimiser step "
                          "(default: epoch; one_cycle: step)")
    warmup: int = Field(0, ge=0, le=1_000_000,
                        description="intervals of linear warmup before the main schedule")
    warmup_start: float = Field(0.01, gt=0, le=1,
                                description="warmup: first rate as a fraction of the rate")
    pct_start: float = Field(0.3, gt=0, lt=1,
                             description="one_cycle: fraction of steps spent rising")
    div_factor: float = Field(25.0, gt=1, le=1e6, description="one_cycle: rate / starting rate")
    final_div_factor: float = Field(1e4, gt=1, le=1e9,
                                    description="one_cycle: starting rate / final rate")


class _Optimizer(SpecModel):
    lr: float = Field(gt=0, le=1e3, description="global learning rate η")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay")
    scheduler: SchedulerSpec | None = Field(
        None, description="learning-rate scheduler for the phases this optimiser runs "
                          "(instead of trainer.scheduler)")


class SGDSpec(_Optimizer):
    type: Literal["sgd"]
    momentum: float = Field(0.0, ge=0, lt=1, description="momentum")
    nesterov: bool = Field(False, description="Nesterov momentum")


class AdadeltaSpec(_Optimizer):
    type: Literal["adadelta"]
    lr: float = Field(1.0, gt=0, le=1e3, description="scale of the Adadelta step")
    rho: float = Field(0.95, gt=0, lt=1, description="decay of the running averages")
    eps: float = Field(1e-6, gt=0, description="numerical floor")


class AdamSpec(_Optimizer):
    type: Literal["adam", "adamw"]
    betas: tuple[float, float] = Field((0.9, 0.999), description="moment decay rates")
    eps: float = Field(1e-8, gt=0, description="numerical floor")


class DeltaBarDeltaSpec(_Optimizer):
    type: Literal["delta_bar_delta"]
    momentum: float = Field(0.0, ge=0, lt=1, description="momentum")
    increment: float = Field(0.1, gt=0, description="κ: gain added when gradient signs agree")
    decrement: float = Field(0.9, gt=0, lt=1, description="φ: gain multiplier when they disagree")
    theta: float = Field(0.7, ge=0, lt=1, description="θ: averaging of the past gradient δ̄")


class LBFGSSpec(_Optimizer):
    """torch.optim.LBFGS: full-batch quasi-Newton steps (relative density nets used conjugate
    gradient capped at 90 iterations; `max_iter: 90` with one full batch is that cap)."""

    type: Literal["lbfgs"]
    lr: float = Field(1.0, gt=0, le=1e3, description="step scale (1 with a line search)")
    max_iter: int = Field(20, ge=1, le=100_000, description="iterations per optimiser step (per "
                                                            "batch)")
    max_eval: int | None = Field(None, ge=1, description="loss evaluations per step (default 1.25 "
                                                         "× max_iter)")
    history_size: int = Field(100, ge=1, le=10_000, description="curvature pairs kept")
    line_search: Literal["strong_wolfe", "none"] = Field("strong_wolfe", description="line search")
    tolerance_grad: float = Field(1e-7, ge=0, description="stop when the gradient's largest entry "
                                                          "is below")
    tolerance_change: float = Field(1e-9, ge=0, description="stop when the loss or step changes "
                                                            "less")

    @model_validator(mode="after")
    def _no_weight_decay(self) -> LBFGSSpec:
        # torch's LBFGS has no weight decay; accepting the key and ignoring it would mislead.
        if self.weight_decay:
            raise spec_error("value_error", "lbfgs has no weight_decay (torch.optim.LBFGS takes "
                             "none); remove it or choose another optimizer")
        return self


OptimizerSpec = Annotated[SGDSpec | AdadeltaSpec | AdamSpec | DeltaBarDeltaSpec | LBFGSSpec,
                          Field(discriminator="type")]


class TrainerSpec(SpecModel):
    """Options passed to Lightning's Trainer."""

    max_epochs: int = Field(20, ge=1, le=100_000, description="epochs per phase unless the phase "
                                                              "says otherwise")
    min_epochs: int = Field(1, ge=0, description="epochs before early stopping may stop")
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = Field("auto",
                                                                      description="hardware")
    devices: int | Literal["auto"] = Field("auto", description="number of devices or processes")
    num_nodes: int = Field(1, ge=1, le=100_000, description="machines, each running `devices` "
                           "processes (started by torchrun, SLURM or by hand: see the README)")
    strategy: Literal["auto", "ddp", "ddp_spawn", "fsdp"] = Field("auto",
                                                                  description="Lightning strategy")
    precision: Literal["32", "16-mixed", "bf16-mixed", "64"] = Field(
        "32", description="numeric precision")
    gradient_clip_val: float | None = Field(None, gt=0, description="clip gradient norm to this")
    accumulate_grad_batches: int = Field(1, ge=1, description="batches per optimiser step")
    deterministic: bool | Literal["warn"] = Field(
        "warn", description="deterministic algorithms; `warn` (default) uses them where they exist "
                            "and warns where not (CTC's CUDA backward has none), so CPU runs "
                            "repeat exactly")
    log_every_n_steps: int = Field(10, ge=1, description="logging interval in steps")
    logger: Literal["csv", "tensorboard"] = Field("csv", description="metrics logger")
    limit_train_batches: float | int | None = Field(None, gt=0,
                                                    description="use part of the training set")
    scheduler: SchedulerSpec | None = Field(None, description="learning-rate scheduler")
