"""Spec stage: a phase's class selection and the layers it saves and restores.

A phase may train (or score) on a subset of the data's classes and keep named copies of layers
between phases, as the catastrophic-forgetting protocol of "Compete to Compute" needs:

    - {phase: joint, name: p1, classes: [0, 1, 2, 3, 4], relabel: true, save: {out: p1_out}}
    - {phase: train, name: p2, classes: [5, 6, 7, 8, 9], relabel: true, reinit: [out]}
    - {phase: evaluate, name: p1_after_p2, classes: [0, 1, 2, 3, 4], relabel: true,
       restore: {out: p1_out}}

`classes` keeps the examples of those classes in every split (training, validation, test);
`relabel` renumbers them 0, 1, ... in the listed order, so a 5-way output serves digits 5-9.
`restore` copies a saved slot into a layer before the phase starts; `save` copies a layer into a
slot when the phase ends (after its best weights are back). Slots live in the run directory, so
a resumed run restores what the interrupted one saved.

Errors found here (no graph needed): a class listed twice (E345), a slot written twice by one
phase (E346), `relabel` without `classes` (E347).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from nndsl.spec.base import SimpleName, SpecModel, spec_error


class SelectionFields(SpecModel):
    """The class selection and layer slots a phase may carry (mixed into phase models)."""

    classes: tuple[int, ...] | None = Field(
        None,
        min_length=1,
        description="train and score on the examples of these classes only "
        "(class indices of the data); every split is filtered, the test split too",
    )
    relabel: bool = Field(
        False,
        description="renumber the selected classes 0, 1, ... in the order "
        "listed (a 5-way output for 5 classes); needs `classes`",
    )
    save: dict[str, SimpleName] = Field(
        default_factory=dict,
        description="layer -> slot: copy each layer's weights into the named "
        "slot when the phase ends (e.g. `{out: p1_out}`)",
    )
    restore: dict[str, SimpleName] = Field(
        default_factory=dict,
        description="layer -> slot: copy a slot saved by an earlier phase "
        "into the layer when the phase starts",
    )

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is None:
            return value
        repeated = sorted({item for item in value if value.count(item) > 1})
        if repeated:
            raise spec_error(
                "class_repeated",
                f"class {repeated[0]} is listed twice",
                hint="list each class once",
            )
        return value

    @field_validator("save")
    @classmethod
    def _one_layer_per_slot(cls, value: dict[str, str]) -> dict[str, str]:
        slots = list(value.values())
        repeated = sorted({slot for slot in slots if slots.count(slot) > 1})
        if repeated:
            layers = [layer for layer, slot in value.items() if slot == repeated[0]]
            raise spec_error(
                "slot_written_twice",
                f"slot `{repeated[0]}` would hold both "
                f"{' and '.join(f'`{layer}`' for layer in layers)}",
                hint="give each saved layer its own slot",
            )
        return value

    @model_validator(mode="after")
    def _relabel_needs_classes(self) -> SelectionFields:
        if self.relabel and self.classes is None:
            raise spec_error(
                "relabel_without_classes",
                "`relabel` renumbers selected classes, but the phase selects none",
                hint="add `classes: [...]`, or remove `relabel`",
            )
        return self


class _EvaluateKind(SpecModel):
    phase: Literal["evaluate"]
    name: SimpleName | None = Field(None, description="phase name (default: kind and position)")


class EvaluatePhase(SelectionFields, _EvaluateKind):
    """Score the network as it stands (after `restore`) on the validation and test splits of its
    class selection; trains nothing. Its row in the phase table holds the metrics."""

    # An evaluate phase neither trains nor stops: code reading every phase's training settings
    # sees the defaults, which nothing uses for this kind.
    @property
    def stop(self):  # StopSpec, imported here: schedule.py imports this module
        from nndsl.spec.schedule import StopSpec

        return StopSpec()

    @property
    def optimizer(self) -> None:
        return None

    @property
    def tempering(self) -> None:
        return None

    @property
    def keep_best(self) -> bool:
        return False

    @property
    def init_from(self) -> None:
        return None  # weights come from `restore:` slots, not checkpoints
