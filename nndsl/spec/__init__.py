"""Spec stage: Resolved -> Spec (pydantic; strict: unknown keys are errors, with "did you mean").

Entry point: `load_spec(root, diagnostics)`.
"""

from __future__ import annotations

from nndsl.spec.load import load_spec
from nndsl.spec.root import LANGUAGE_VERSION, Spec
from nndsl.spec.selectors import Selector

__all__ = ["LANGUAGE_VERSION", "Selector", "Spec", "load_spec"]
