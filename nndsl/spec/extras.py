"""Spec stage: `ensemble:` and `memory:`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from nndsl.spec.base import SpecModel, spec_error

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|b|[kmgt]i?b)?\s*$", re.IGNORECASE)
MAX_BUDGET_BYTES = 2**50


class EnsembleSpec(SpecModel):
    """M members trained together."""

    members: int = Field(ge=1, le=64, description="number of members M")
    method: Literal["independent", "bagging", "smcl"] = Field(
        "independent", description="independent seeds, bootstrap samples, or the sMCL oracle loss")
    k: int = Field(1, ge=1, description="smcl: members receiving each example's gradient (k = M: "
                                        "classic ensemble)")
    share: str | None = Field(None, description="a cut: members share the extractor below it (one "
                                                "trunk, M heads)")
    combine: Literal["mean", "vote"] = Field(
        "mean", description="how the members' class predictions are combined for valid/accuracy "
                            "and test/accuracy: mean of probabilities, or majority vote")
    vectorise: bool = Field(True, description="run identical members as one vectorised module")

    @field_validator("k")
    @classmethod
    def _k_within_members(cls, k: int, info: ValidationInfo) -> int:
        # A field validator (not a model one) so the diagnostic points at `k:` itself; pydantic
        # runs it only when `k` is written, so a `k` that no method would use is refused.
        method = info.data.get("method")
        if method is not None and method != "smcl":
            raise spec_error("ensemble_option", "`k` applies to `method: smcl` only (hint: "
                             "{method} members each learn from every example; remove `k`)",
                             method=method)
        members = info.data.get("members")
        if members is not None and k > members:
            raise spec_error("ensemble_k", "k = {k} exceeds members = {members}",
                             k=k, members=members)
        return k

    @field_validator("combine", mode="before")
    @classmethod
    def _combine_is_a_combiner(cls, combine: object) -> object:
        if combine == "oracle":
            # The oracle picks, per example, the member that got it right: it needs the labels,
            # so it scores an ensemble (valid/oracle_accuracy, always logged) but cannot predict.
            raise spec_error("ensemble_option", "the oracle is not a way to combine "
                             "predictions: it needs the labels (hint: every ensemble run "
                             "logs valid/oracle_accuracy, the oracle's score; monitor that, and "
                             "combine with mean or vote)")
        return combine


class MemorySpec(SpecModel):
    """A memory budget for activations kept for the backward pass: recompute policies for
    recurrent layers, checkpoint segments for feed-forward layer chains."""

    budget: float | str = Field(description="bytes (`48 MiB`, `2GB`, 50000000) or a share of plain "
                                            "backpropagation's activation memory (`5%`)")
    policy: Literal["optimal", "hidden", "internal", "sqrt", "none"] = Field(
        "optimal", description="optimal = BPTT-MSM for recurrent layers, size-aware checkpoint "
                               "segments for chains; hidden = HSM; internal = ISM (chains: as "
                               "optimal); sqrt = √T / √n equal segments; none = keep everything")
    sequence_length: int | None = Field(None, ge=1, le=1_000_000,
                                        description="the length T to plan for when the input "
                                                    "length varies (batches of other lengths are "
                                                    "re-planned with the same memory)")

    @field_validator("budget", mode="before")
    @classmethod
    def _parse_budget(cls, value: object) -> float | str:
        return parse_budget(value)

    @property
    def is_fraction(self) -> bool:
        return isinstance(self.budget, str)

    @property
    def fraction(self) -> float:
        return float(str(self.budget).rstrip("%")) / 100


def parse_budget(value: object) -> float | str:
    """Bytes as a float, or a percentage kept as text such as "5%".

    >>> parse_budget("48 MiB")
    50331648.0
    >>> parse_budget("5%")
    '5%'
    """
    if isinstance(value, bool):
        raise spec_error("budget", "budget {value} is neither bytes nor a percentage", value=value)
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = _BUDGET.match(str(value))
        if not match:
            raise spec_error("budget", "budget `{value}` does not parse: write bytes such as `48 "
                             "MiB` or a percentage such as `5%`", value=value)
        number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit == "%":
        if not 0 < number <= 100:
            raise spec_error("budget", "a percentage budget lies in (0, 100], not {value}",
                             value=value)
        return f"{number:g}%"
    size = number * _UNITS[unit]
    if size <= 0:
        raise spec_error("budget", "budget `{value}` must be positive", value=value)
    if size > MAX_BUDGET_BYTES:
        raise spec_error("size_too_large", "budget `{value}` is absurdly large", value=value)
    return size
