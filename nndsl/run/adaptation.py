"""Run stage: what an `adapt` phase changes in a run (ICA with top-down attention, Bae & Lee).

In: the run context of one planned run and its phase. Out: the same context with the phase's
split as training data (one example per batch, in order, labels unread) and the settings that
make `build_module` build an `AdaptationModule`. Everything else (frozen sets, optimiser,
checkpoints, `--resume`) is the ordinary run's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nndsl.plan import PhasePlan


def adaptation_context(context: Any, phase: PhasePlan) -> Any:
    """The run context for an adapt phase's run."""
    from nndsl.backend.adaptation import AdaptationData

    from nndsl.plan.phases import _default_name

    schedule = context.spec.schedule
    # Found by name: the plan may hold more phases than the schedule (expanded macros).
    (spec_phase,) = [entry for index, entry in enumerate(schedule)
                     if (entry.name or _default_name(entry.phase, index, context.spec))
                     == phase.name]
    data = AdaptationData(context.datamodule, spec_phase.inputs)
    return dataclasses.replace(context, datamodule=data, adaptation=spec_phase.target)
