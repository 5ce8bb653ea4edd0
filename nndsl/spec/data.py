"""Spec stage: the `data:` section.

Common keys are validated here; every other key belongs to the chosen source and is validated by
that source's own parameter model (the data-source registry), so user-registered sources get the
same strict checking as built-in ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic import BaseModel

from nndsl.diagnostics import did_you_mean
from nndsl.spec.base import SpecModel, gather_flat_keys, spec_error

_COMMON_KEYS = {"source", "batch_size", "valid_fraction", "test_fraction", "seed", "num_workers",
                "options", "standardize",
                "batch_frames"}


class DataSpec(SpecModel):
    """Where examples come from and how they are batched and split."""

    source: str = Field(description="a data source: digits, family_relations, synthetic_speech, "
                                    "markov_text, npz, csv, kaldi (`nndsl ls`)")
    batch_size: int = Field(32, ge=1, le=1_000_000, description="examples per batch")
    valid_fraction: float = Field(0.1, ge=0, lt=1, description="share of examples held out for "
                                                               "validation")
    test_fraction: float = Field(0.0, ge=0, lt=1, description="share of examples held out for "
                                                              "testing")
    seed: int | None = Field(None, description="split seed (default: the spec's seed)")
    num_workers: int = Field(0, ge=0, le=64, description="data-loading worker processes")
    standardize: bool = Field(False, description="standardise each input feature to mean 0 and "
                              "std 1 with statistics of the training split (kept for `predict`)")
    options: BaseModel | None = Field(None, description="source-specific keys, written flat beside "
                                                        "`source`")
    batch_frames: int | None = Field(None, ge=1, le=1_000_000_000, description=(
        "instead of batch_size, for sequences: batches of similar length holding at most this many "
        "padded frames (longest length x examples), in a seeded order"))

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, value: Any) -> Any:
        return gather_flat_keys(value, _COMMON_KEYS, "options")

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str, info: ValidationInfo) -> str:
        registry = _sources(info)
        if registry is not None and value not in registry:
            hint = did_you_mean(value, registry.names()) or "`nndsl ls` lists the data sources"
            raise spec_error("unknown_source", "unknown data source `{source}` ({hint})",
                             source=value, hint=hint)
        return value

    @field_validator("options", mode="before")
    @classmethod
    def _typed_options(cls, value: Any, info: ValidationInfo) -> Any:
        registry = _sources(info)
        name = info.data.get("source", "")
        if registry is None or name not in registry:
            return None  # an unknown source is already reported
        source = registry.get(name)
        return source.Params.model_validate(value or {})

    @model_validator(mode="after")
    def _one_batching(self) -> DataSpec:
        if self.batch_frames is not None and "batch_size" in self.model_fields_set:
            raise spec_error("batch_frames_and_size", "batch_frames and batch_size exclude each "
                             "other: a frame budget sizes each batch by its examples' lengths",
                             hint="remove batch_size (or batch_frames for fixed-size batches)")
        return self

    @model_validator(mode="after")
    def _fractions(self) -> DataSpec:
        if self.valid_fraction + self.test_fraction >= 1:
            raise spec_error("value_error", "valid_fraction + test_fraction must leave examples "
                             "for training (they add up to {total})",
                             total=self.valid_fraction + self.test_fraction)
        return self


def _sources(info: ValidationInfo) -> Any:
    context = info.context or {}
    if "sources" in context:
        return context["sources"]
    try:
        from nndsl.data.registry import DATA_SOURCES
    except ImportError:  # the data package is optional for spec-only use
        return None
    return DATA_SOURCES
