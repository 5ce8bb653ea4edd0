"""Check stage: class selections and layer slots of the schedule against the data and each other.

In: the spec, the data signature (None when the data could not say) and the locator. Out:
diagnostics only. A class selection needs class targets and no ensemble (E470) and classes the
data has (E471);
a `restore` must name a slot an earlier phase saves (E472); an `evaluate` phase needs a
validation or test split to score (E473). Layers are matched against the graph later
(`nndsl.plan.selection`).
"""

from __future__ import annotations

from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext, did_you_mean
from nndsl.spec import Spec
from nndsl.spec.selection import EvaluatePhase, SelectionFields

def check_slots(spec: Spec, context: StageContext) -> None:
    """Every restored slot is saved by an earlier phase (E472)."""
    locate, diagnostics = context.locate, context.diagnostics
    saved: set[str] = set()
    for index, phase in enumerate(spec.schedule):
        if not isinstance(phase, SelectionFields):
            continue
        for layer, slot in phase.restore.items():
            if slot not in saved:
                earlier = (
                    f"saved before: {', '.join(sorted(saved))}"
                    if saved
                    else "no phase before this one saves a slot"
                )
                diagnostics.add(
                    "E472",
                    f"`restore` reads slot `{slot}` into `{layer}`, but no earlier phase saves it",
                    locate(("schedule", index, "restore", layer)),
                    did_you_mean(slot, saved)
                    or f"{earlier}; save it with `save: {{{layer}: {slot}}}` on an earlier phase",
                )
        saved.update(phase.save.values())


def check_selections(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Class selections fit the data's targets (E470, E471); evaluate phases can score (E473)."""
    locate, diagnostics = context.locate, context.diagnostics
    for index, phase in enumerate(spec.schedule):
        if (
            isinstance(phase, EvaluatePhase)
            and spec.data.valid_fraction == 0
            and spec.data.test_fraction == 0
            and not signature.fixed_test_count
        ):
            diagnostics.add(
                "E473",
                f"phase `{phase.name or 'evaluate'}` scores the validation and "
                "test splits, but the data has neither",
                locate(("schedule", index)),
                "set data.test_fraction (or data.valid_fraction), e.g. 0.2",
            )
        if not isinstance(phase, SelectionFields) or phase.classes is None:
            continue
        where = locate(("schedule", index, "classes"))
        if spec.ensemble is not None:
            diagnostics.add(
                "E470",
                "`classes` is not supported for ensembles (their members' "
                "data and assignments span every class)",
                where,
                "remove `classes`, or train without `ensemble:`",
            )
            continue
        if signature.target_kind != "class":
            diagnostics.add(
                "E470",
                f"`classes` selects examples by class, but `{spec.data.source}`"
                f" has {signature.target_kind} targets",
                where,
                "class selections need a data source with one class per example",
            )
            continue
        count = signature.num_classes
        for position, value in enumerate(phase.classes):
            if value < 0 or (count is not None and value >= count):
                diagnostics.add(
                    "E471",
                    f"class {value} is not a class of `{spec.data.source}`",
                    locate(("schedule", index, "classes", position)) or where,
                    f"its classes are 0 .. {count - 1}" if count else "class indices start at 0",
                )
