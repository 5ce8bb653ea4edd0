"""Check stage: how batches can be formed from the data — a frame budget per batch
(`data.batch_frames`), and bagging's bootstrap batches.

In: the spec, the data signature and the stage context (locator, diagnostics). Out: E491 when
the inputs have no time axis to bucket by, E492 when the source's metadata names an example
longer than the budget (such an example fits no batch), E497 when a bagging ensemble would
replace the bucketed batches by its own fixed-size bootstrap batches (the budget would be
ignored); E612 when bagging would stack examples of different lengths: each member draws its
own bootstrap examples, and a batch holds every member's draws stacked as one tensor
[members, batch, ...], which examples of different lengths cannot form (nor would the members
receive the lengths that mask the padding of a single network's batches).
"""

from __future__ import annotations

from nndsl.check.compatibility import LOSSES
from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext
from nndsl.spec import Spec


def check_batching(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Report what keeps `batch_frames` from being honoured."""
    locate, diagnostics = context.locate, context.diagnostics
    budget = spec.data.batch_frames
    if budget is None:
        return
    where = locate(("data", "batch_frames"))
    if signature.input_kind != "sequence":
        diagnostics.add("E491", f"batch_frames needs inputs with a time axis; this data's "
                        f"inputs are {signature.input_kind} {signature.input_shape}", where,
                        "use batch_size for fixed-size inputs")
    elif signature.longest_example is not None and signature.longest_example > budget:
        diagnostics.add("E492", f"the longest example has {signature.longest_example} frames, "
                        f"more than batch_frames {budget}", where,
                        f"raise batch_frames to at least {signature.longest_example}, or cut "
                        "the longest examples")
    ensemble = spec.ensemble
    if ensemble is not None and ensemble.method == "bagging":
        diagnostics.add("E497", "batch_frames cannot be honoured with a bagging ensemble, whose "
                        "members draw fixed-size bootstrap batches", where,
                        "use batch_size with bagging, or another ensemble method")


def check_bagging_examples(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """Bagging needs examples of one shape: a variable axis ("T", "L") in the inputs or targets
    is refused at `ensemble.method` (E612)."""
    ensemble = spec.ensemble
    if ensemble is None or ensemble.method != "bagging":
        return
    shapes = [("inputs", signature.input_shape)]
    if signature.target_kind in LOSSES[spec.loss.type].in_ensemble:  # else E408 says enough
        shapes.append(("targets", signature.target_shape))
    variable = [f"{what} {tuple(shape)}" for what, shape in shapes
                if any(isinstance(axis, str) for axis in shape)]
    if variable:
        context.diagnostics.add(
            "E612", f"bagging cannot batch examples of different lengths: this data's "
            f"{' and '.join(variable)} have a variable axis, and each member's bootstrap draws "
            "are stacked into one batch", context.locate(("ensemble", "method")),
            "pad the examples to one length in the data, or train the members as separate runs")
