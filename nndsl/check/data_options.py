"""Check stage: data options that depend on what the source yields.

In: the spec and the data's `DataSignature`. Out: diagnostics appended to the list.

`standardize: true` rescales numeric input features (`nndsl.data.standardize`); token ids are
categories, not measurements, so standardising them is refused (E476) rather than ignored.
"""

from __future__ import annotations

from nndsl.check.references import Locator
from nndsl.data.registry import DataSignature
from nndsl.diagnostics import DiagnosticList
from nndsl.spec import Spec


def check_data_options(spec: Spec, signature: DataSignature, locate: Locator,
                       diagnostics: DiagnosticList) -> None:
    """`standardize` needs numeric features (E476)."""
    if spec.data.standardize and signature.input_kind == "tokens":
        diagnostics.add("E476", f"`standardize` rescales numeric features, but "
                        f"`{spec.data.source}` yields token ids", locate(("data", "standardize")),
                        "remove `standardize`: an embedding layer learns the tokens' scale")
