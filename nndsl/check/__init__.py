"""Check stage: cross-references the pydantic models cannot see, every error collected.

Entry point: `run_checks(spec, signature, context)`.
"""

from __future__ import annotations

from nndsl.check.batching import check_bagging_examples, check_batching
from nndsl.check.references import check_cuts, check_names, check_phases, cut_names, unit_names
from nndsl.check.compatibility import (check_ensemble_options, check_loss, check_loss_options,
                                      check_metrics)
from nndsl.check.adaptation import check_adaptation
from nndsl.check.online import check_hardware, check_online, check_plants
from nndsl.check.data_options import check_data_options
from nndsl.check.loss_terms import check_loss_terms
from nndsl.check.scheduler import check_schedulers
from nndsl.check.selection import check_selections, check_slots
from nndsl.check.targets import check_input_shape, check_monitors, check_targets, logged_metrics
from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext
from nndsl.spec import Spec

__all__ = ["run_checks", "run_partial_checks", "cut_names", "unit_names", "logged_metrics"]

#: The checks that may run on a spec with errors elsewhere, each with the top-level sections it
#: reads: it runs only when all of them validated (a stand-in for one of them would mislead).
STRUCTURE_SECTIONS = frozenset({"network", "cuts", "schedule"})
DATA_CHECKS = (
    (check_input_shape, frozenset({"network", "data"})),
    (check_data_options, frozenset({"data"})),
    (check_loss, frozenset({"loss", "ensemble", "data"})),
    (check_loss_options, frozenset({"loss", "ensemble"})),
    (check_metrics, frozenset({"metrics", "ensemble", "data"})),
    (check_ensemble_options, frozenset({"ensemble", "data"})),
    (check_monitors, frozenset({"metrics", "ensemble", "schedule", "trainer", "data"})),
    (check_batching, frozenset({"ensemble", "data"})),
    (check_bagging_examples, frozenset({"ensemble", "data"})),
    (check_selections, frozenset({"schedule", "data"})),
)


def run_checks(spec: Spec, signature: DataSignature | None, context: StageContext) -> None:
    """Run every check; problems are appended to `diagnostics`."""
    check_names(spec, context)
    check_cuts(spec, context)
    check_phases(spec, context)
    check_schedulers(spec, context)
    check_plants(spec, context)
    check_online(spec, context)
    check_hardware(spec, context)
    check_loss_terms(spec, context)
    check_slots(spec, context)
    if signature is not None:
        check_input_shape(spec, signature, context)
        check_data_options(spec, signature, context)
        check_targets(spec, signature, context)
        check_adaptation(spec, signature, context)
        check_batching(spec, signature, context)
        check_bagging_examples(spec, signature, context)
        check_selections(spec, signature, context)


def run_partial_checks(spec: Spec, clean: frozenset[str], signature: DataSignature | None,
                       context: StageContext) -> None:
    """The checks whose sections all validated, on a spec whose other sections have errors
    (`nndsl.spec.partial`): a wrong cut is reported together with a typo elsewhere."""
    if STRUCTURE_SECTIONS <= clean:
        check_names(spec, context)
        check_cuts(spec, context)
        check_phases(spec, context)
    if {"optimizer", "trainer", "schedule"} <= clean:
        check_schedulers(spec, context)
    if "schedule" in clean:
        check_slots(spec, context)
    if {"network", "loss", "ensemble"} <= clean:
        check_loss_terms(spec, context)
    for check, sections in DATA_CHECKS if signature is not None else ():
        if sections <= clean:
            check(spec, signature, context)
