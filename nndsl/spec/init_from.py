"""Spec stage: `init_from:`, starting a network (or one phase) from weights trained before.

    init_from: runs/digits-base                 # a run directory: its final_weights.pt
    init_from:
      path: runs/digits-base/checkpoints/main/best.ckpt   # a Lightning checkpoint
      select: [extractor:C2]                    # only these layers (the phase selectors)
      rename: {hidden: encoder}                 # the checkpoint's layer (or group) -> this one's
    init_from:                                  # another key layout: a plain torch module's
      path: torch_mlp.pt                        # state dict (0.weight, encoder.fc1.weight, ...)
      strip_prefix: model.                      # e.g. a Lightning module's `self.model`
      rename: {"0": hidden, "encoder.fc*": "enc*", "re:head\\.(\\w+)": "out_\\1"}

A source is a run directory (`weights: final` reads its `final_weights.pt`, `weights: best` the
`best.ckpt` of its last run), a Lightning checkpoint (`.ckpt`) or a plain state dict written by
`torch.save`, in nndsl's key layout (`layers.NAME.…`) or any other (`nndsl.plan.init_keys`).
Which tensors go into which layer is decided at validation, without torch, by
`nndsl.plan.init_from`, and recorded in the plan.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from nndsl.spec.base import SpecModel
from nndsl.spec.selectors import Selector


class InitFromSpec(SpecModel):
    """Weights loaded into selected layers before training (the whole run, or one phase)."""

    path: str = Field(min_length=1, description="a run directory, a Lightning checkpoint (.ckpt) "
                      "or a state dict saved by torch.save, relative to the spec file")
    weights: Literal["final", "best"] = Field(
        "final", description="a run directory: its final weights (final_weights.pt) or the best "
        "checkpoint of its last run (best.ckpt)")
    select: tuple[Selector, ...] = Field(
        default_factory=lambda: (Selector("all"),), min_length=1,
        description="the layers loaded (phase selectors: all, NAME-GLOB, type:T, extractor:CUT, "
        "classifier:CUT)")
    rename: dict[str, str] = Field(
        default_factory=dict, description="the checkpoint's layer or group names mapped to this "
        "network's, e.g. {hidden: encoder}; a key may be a glob ({'encoder.fc*': 'enc*'}: each "
        "* a run of characters without a dot) or a regular expression ('re:blocks\\.(\\d+)': "
        "'block\\1')")
    layout: Literal["auto", "nndsl", "other"] = Field(
        "auto", description="the checkpoint's key layout: nndsl's (`layers.NAME.TENSOR`), other "
        "(a module path, then a tensor name), or auto: nndsl's where keys begin `layers.` (say "
        "`other` for a module whose own attribute is called `layers`)")
    strip_prefix: str | None = Field(
        None, min_length=1, description="removed from the front of every checkpoint key before "
        "matching (e.g. `model.` for a Lightning module's `self.model`); keys without it are not "
        "loaded")


def _written_out(value: Any) -> Any:
    # `init_from: runs/x` is the common case: every layer from that run's final weights.
    return {"path": value} if isinstance(value, str) else value


def path_or_mapping(schema: dict[str, Any]) -> None:
    """JSON Schema of an `init_from` field: the mapping, or the path alone (editors accept both)."""
    schema.setdefault("anyOf", []).insert(0, {"type": "string", "minLength": 1})


#: `init_from:` as written: a path alone, or the mapping; always an `InitFromSpec` once loaded.
#: (A before-validator, not a union with `str`: a mistake inside the mapping then reads as that
#: mistake, not also as "expected text".) Fields add `json_schema_extra=path_or_mapping`.
InitFrom = Annotated[InitFromSpec, BeforeValidator(_written_out)]
