"""Check stage: `adapt` phases (adaptation on unlabelled inputs from the network's own decision).

In: the typed spec and the data signature. Out: diagnostics appended to the list:

    E488  the data's targets are not classes, so the network has no decision to adapt to
    E489  the split the phase adapts to is not made (no test or validation share)
    E490  an adapt phase in an ensemble (its members decide apart)
"""

from __future__ import annotations

from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext
from nndsl.spec import Spec
from nndsl.spec.schedule import AdaptPhase


def check_adaptation(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    locate, diagnostics = context.locate, context.diagnostics
    for index, phase in enumerate(spec.schedule):
        if not isinstance(phase, AdaptPhase):
            continue
        where = locate(("schedule", index))
        if signature.target_kind != "class":
            diagnostics.add("E488", f"an adapt phase takes the network's decision among classes "
                            f"as its target, but the data's targets are {signature.target_kind}",
                            where, "use a classification data source, or a train phase")
        present = {"train": True, "valid": spec.data.valid_fraction > 0,
                   "test": spec.data.test_fraction > 0 or bool(signature.fixed_test_count)}
        if not present[phase.inputs]:
            share = "test_fraction" if phase.inputs == "test" else "valid_fraction"
            diagnostics.add("E489", f"the adapt phase adapts to the {phase.inputs} inputs, but "
                            f"the data has no {phase.inputs} split",
                            locate(("schedule", index, "inputs")) or where,
                            f"set data.{share} above 0")
        if spec.ensemble is not None:
            diagnostics.add("E490", "an adapt phase cannot run in an ensemble: each member "
                            "would take its own decision as the target", where,
                            "remove `ensemble:` or the adapt phase")
