"""Check stage: cross-references the pydantic models cannot see, every error collected.

Entry point: `run_checks(spec, signature, locate, diagnostics)`.
"""

from __future__ import annotations

from nndsl.check.references import Locator, check_cuts, check_names, check_phases, cut_names, unit_names
from nndsl.check.targets import check_input_shape, check_targets, logged_metrics
from nndsl.data.registry import DataSignature
from nndsl.diagnostics import DiagnosticList
from nndsl.spec import Spec

__all__ = ["run_checks", "cut_names", "unit_names", "logged_metrics"]


def run_checks(spec: Spec, signature: DataSignature | None, locate: Locator, diagnostics: DiagnosticList) -> None:
    """Run every check; problems are appended to `diagnostics`."""
    check_names(spec, locate, diagnostics)
    check_cuts(spec, locate, diagnostics)
    check_phases(spec, locate, diagnostics)
    if signature is not None:
        check_input_shape(spec, signature, locate, diagnostics)
        check_targets(spec, signature, locate, diagnostics)
