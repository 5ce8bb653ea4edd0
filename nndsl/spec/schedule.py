"""Spec stage: `cuts:` and `schedule:` (phases run in order).

A cut splits the network into a bottom *extractor* (b) and a top *classifier* (t). `cuts: units`
puts a cut after each top-level unit but the last: C1 .. C(n-1), C1 nearest the input, as in
the top-down training paper. Named cuts give either the unit they follow or the extractor's
layers by selectors.

Phase kinds:
    joint               train every layer
    train               explicit `train:` / `freeze:` / `reinit:` selectors (controls, custom
                        phases)
    top_down            Algorithm 1: freeze the classifier above a cut, re-initialise and retrain
                        the extractor, move the cut down while validation improves
    retrain_classifier  freeze the extractor below a cut, continue (or re-initialise) the top;
                        kept only when validation improves
    adapt               selected layers learn from unlabelled inputs, one update per example,
                        with the network's own decision as target (ICA + top-down attention)
    gradual_unfreeze    train the top unit (or the classifier above the top cut), then one more
                        unit (cut) per stage down to the whole network; expanded by the plan
                        stage (`nndsl.plan.gradual`) into `train` phases named NAME-1, NAME-2 ..
    evaluate            train nothing: score the network on validation and test
                        (`nndsl.spec.selection`: class subsets, saving and restoring layers)

The paper's control "freeze the bottom layer, retrain the top" is a `train` phase:
`{phase: train, freeze: [extractor:C1], reinit: [classifier:C1]}`.
`classifier_from` (the paper's Table 1 "frozen classifier from another run", and its suggested
set of classifiers from differently seeded runs) belongs to a `top_down` phase: its first
attempt takes the classifier above its cut from the checkpoints instead of the current network.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from nndsl.spec.base import SimpleName, SpecModel, spec_error
from nndsl.spec.init_from import InitFrom, path_or_mapping
from nndsl.spec.selection import EvaluatePhase, SelectionFields
from nndsl.spec.selectors import Selector
from nndsl.spec.tempering import TemperingSpec
from nndsl.spec.training import OptimizerSpec


class CutSpec(SpecModel):
    """A named cut: after a top-level unit, or the set of extractor layers."""

    after: str | None = Field(None, description="the top-level unit (layer or group) the cut "
                                                "follows")
    extractor: tuple[Selector, ...] | None = Field(None, min_length=1,
                                                   description="layers below the cut")


class StopSpec(SpecModel):
    """When a phase (or each retraining in it) stops."""

    monitor: str = Field("valid/loss", description="metric watched, e.g. valid/loss, valid/cer")
    patience: int | None = Field(None, ge=1, le=10_000, description="epochs without improvement "
                                                                    "before stopping")
    mode: Literal["min", "max"] | None = Field(None, description="better is lower or higher "
                                                                 "(default from the metric)")
    max_epochs: int | None = Field(None, ge=1, le=100_000, description="cap (default: "
                                                                       "trainer.max_epochs)")
    threshold: float | None = Field(None, description="stop as soon as the metric reaches this "
                                                      "value (at or below it for min, at or above "
                                                      "for max)")


class _Phase(SpecModel):
    name: SimpleName | None = Field(None, description="phase name (default: kind and position); "
                                    "names its checkpoint folder: letters, digits, . _ -")
    stop: StopSpec = Field(default_factory=StopSpec, description="when to stop")
    optimizer: OptimizerSpec | None = Field(None, description="optimiser for this phase (default: "
                                                              "the spec's)")
    tempering: TemperingSpec | None = Field(None, description="tempering rule for this phase")
    keep_best: bool = Field(True, description="end the phase with its best-validation weights")
    init_from: InitFrom | None = Field(None, description="weights loaded at the phase's start",
                                       json_schema_extra=path_or_mapping)


class JointPhase(SelectionFields, _Phase):
    phase: Literal["joint"]


class TrainPhase(SelectionFields, _Phase):
    phase: Literal["train"]
    train: tuple[Selector, ...] = Field(default_factory=lambda: (Selector("all"),),
                                        description="layers that learn")
    freeze: tuple[Selector, ...] = Field((), description="layers held fixed")
    reinit: tuple[Selector, ...] = Field((), description="layers re-initialised at the phase start")


class TopDownPhase(_Phase):
    phase: Literal["top_down"]
    first_cut: str | None = Field(None, description="the highest cut tried (default: the top cut)")
    last_cut: str | None = Field(None, description="the lowest cut tried (default: the bottom cut)")
    search: Literal["greedy", "full"] = Field(
        "greedy", description="greedy: the paper's experiments; full: Algorithm 1")
    monitor: str = Field("valid/loss", description="validation metric deciding acceptance")
    mode: Literal["min", "max"] | None = Field(None, description="better is lower or higher")
    classifier_from: tuple[str, ...] = Field(
        (), description="checkpoints (a run's final_weights.pt or a state.pt, relative to the spec "
        "file) whose layers above the first cut replace the classifier of the first attempt; with "
        "several, the extractor trains against all of them (mean loss) and the one scoring best on "
        "validation is kept")


class RetrainClassifierPhase(_Phase):
    phase: Literal["retrain_classifier"]
    cut: str | None = Field(None, description="the cut (default: the one an earlier top_down phase "
                            "accepted last, decided at run time; its first cut when it accepted "
                            "none)")
    reinit: bool = Field(False, description="re-initialise the classifier instead of continuing it")


class AdaptPhase(TrainPhase):
    """Adaptation on unlabelled inputs (ICA with top-down attention, Bae & Lee): the selected
    layers learn, one update per example in order, from the network's own decision; planned
    like a `train` phase (its subclass), run by `nndsl.run.adaptation`."""

    phase: Literal["adapt"]  # type: ignore[assignment]
    train: tuple[Selector, ...] = Field(min_length=1, description="layers that adapt; the rest "
                                        "is frozen")
    inputs: Literal["test", "valid", "train"] = Field(
        "test", description="the split whose inputs (never its labels) the layers adapt to")
    target: Literal["own_decision"] = Field(
        "own_decision", description="own_decision: +1 for the winning output, -1 elsewhere, "
        "against the bipolar output tanh(z); error ½Σ(t - tanh z)²")
    sweeps: int = Field(1, ge=1, le=10_000, description="passes over the inputs, one update per "
                                                        "example")
    keep_best: bool = Field(False, description="end with the best-validation weights (off: "
                                               "choosing by labels would not be unsupervised)")

    @model_validator(mode="after")
    def _sweeps_are_epochs(self) -> AdaptPhase:
        # The sweeps are the run's epochs; a different stop.max_epochs would contradict them.
        if self.stop.max_epochs is not None and self.stop.max_epochs != self.sweeps:
            raise spec_error("value_error", "an adapt phase runs `sweeps` passes ({sweeps}); "
                             "remove stop.max_epochs ({epochs})", sweeps=self.sweeps,
                             epochs=self.stop.max_epochs)
        if self.stop.max_epochs is None:
            object.__setattr__(self, "stop", self.stop.model_copy(update={"max_epochs":
                                                                          self.sweeps}))
        return self


_Epochs = Annotated[int, Field(ge=1, le=100_000)]


class GradualUnfreezePhase(_Phase):
    """Gradual unfreezing as one line: stage k trains the top k units (or the classifier above
    the k-th cut from the top); the last stage trains every layer unless `stages` stops sooner."""

    phase: Literal["gradual_unfreeze"]
    by: Literal["units", "cuts"] = Field("units", description="what one stage unfreezes: the next "
                                         "top-level unit with parameters, or the next cut down")
    stages: int | None = Field(None, ge=1, le=10_000, description="stages (default: until every "
                               "layer trains)")
    epochs: _Epochs | tuple[_Epochs, ...] | None = Field(
        None, description="epochs per stage: one number, or one per stage "
        "(default: stop.max_epochs, else trainer.max_epochs)")
    lr_multipliers: tuple[Annotated[float, Field(gt=0, le=1e4)], ...] = Field(
        (), description="per stage, the optimiser's rate multiplied by this (default 1)")


PhaseSpec = Annotated[
    JointPhase | TrainPhase | TopDownPhase | RetrainClassifierPhase | GradualUnfreezePhase
    | AdaptPhase | EvaluatePhase, Field(discriminator="phase")]
