"""Check stage: cross-references the pydantic models cannot see, every error collected.

Entry point: `run_checks(spec, signature, locate, diagnostics)`.
"""

from __future__ import annotations

from nndsl.check.references import Locator, check_cuts, check_names, check_phases, cut_names, unit_names
from nndsl.check.compatibility import (check_ensemble_options, check_loss, check_loss_options,
                                      check_metrics)
from nndsl.check.scheduler import check_schedulers
from nndsl.check.selection import check_selections, check_slots
from nndsl.check.targets import check_input_shape, check_monitors, check_targets, logged_metrics
from nndsl.data.registry import DataSignature
from nndsl.diagnostics import DiagnosticList
from nndsl.spec import Spec

__all__ = ["run_checks", "run_partial_checks", "cut_names", "unit_names", "logged_metrics"]

#: The checks that may run on a spec with errors elsewhere, each with the top-level sections it
#: reads: it runs only when all of them validated (a stand-in for one of them would mislead).
STRUCTURE_SECTIONS = frozenset({"network", "cuts", "schedule"})
DATA_CHECKS = (
    (check_input_shape, frozenset({"network", "data"})),
    (check_loss, frozenset({"loss", "ensemble", "data"})),
    (check_loss_options, frozenset({"loss", "ensemble"})),
    (check_metrics, frozenset({"metrics", "ensemble", "data"})),
    (check_ensemble_options, frozenset({"ensemble", "data"})),
    (check_monitors, frozenset({"metrics", "ensemble", "schedule", "trainer", "data"})),
    (check_selections, frozenset({"schedule", "data"})),
)


def run_checks(spec: Spec, signature: DataSignature | None, locate: Locator, diagnostics: DiagnosticList) -> None:
    """Run every check; problems are appended to `diagnostics`."""
    check_names(spec, locate, diagnostics)
    check_cuts(spec, locate, diagnostics)
    check_phases(spec, locate, diagnostics)
    check_schedulers(spec, locate, diagnostics)
    check_slots(spec, locate, diagnostics)
    if signature is not None:
        check_input_shape(spec, signature, locate, diagnostics)
        check_targets(spec, signature, locate, diagnostics)
        check_selections(spec, signature, locate, diagnostics)


def run_partial_checks(spec: Spec, clean: frozenset[str], signature: DataSignature | None,
                       locate: Locator, diagnostics: DiagnosticList) -> None:
    """The checks whose sections all validated, on a spec whose other sections have errors
    (`nndsl.spec.partial`): a wrong cut is reported together with a typo elsewhere."""
    if STRUCTURE_SECTIONS <= clean:
        check_names(spec, locate, diagnostics)
        check_cuts(spec, locate, diagnostics)
        check_phases(spec, locate, diagnostics)
    if {"optimizer", "trainer", "schedule"} <= clean:
        check_schedulers(spec, locate, diagnostics)
    if "schedule" in clean:
        check_slots(spec, locate, diagnostics)
    for check, sections in DATA_CHECKS if signature is not None else ():
        if sections <= clean:
            check(spec, signature, locate, diagnostics)
