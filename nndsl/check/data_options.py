"""Check stage: data options that depend on what the source yields.

In: the spec and the data's `DataSignature`. Out: diagnostics appended to the list.

`standardize: true` rescales numeric input features (`nndsl.data.standardize`); token ids are
categories, not measurements, so standardising them is refused (E476) rather than ignored.
Data streamed in batches (lazy sources, `batch_frames`) is standardised as it is read
(`nndsl.backend.streaming`).
"""

from __future__ import annotations

from nndsl.data.registry import DataSignature
from nndsl.diagnostics import StageContext
from nndsl.spec import Spec


def check_data_options(spec: Spec, signature: DataSignature, context: StageContext) -> None:
    """`standardize` needs numeric features (E476)."""
    locate = context.locate
    if not spec.data.standardize:
        return
    if signature.input_kind == "tokens":
        context.diagnostics.add("E476", f"`standardize` rescales numeric features, but "
                                f"`{spec.data.source}` yields token ids",
                                locate(("data", "standardize")),
                                "remove `standardize`: an embedding layer learns the tokens' scale")

