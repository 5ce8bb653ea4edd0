"""Spec stage: the `hardware:` section, limits of the device a network is trained on.

An analog or low-precision chip cannot hold float weights: its weights have a few bits, a limited
range, fixed offsets in its multipliers, and learning rates from a coarse set. Written here,
the same network spec becomes its "8-bit" or "analog" version in one line. The backend applies
the limits to every fully connected (`linear`) layer (`nndsl.backend.hardware`); cross-field
rules (a bit count needs its range, rates on the grid) are checked in `nndsl.check.online`.
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from nndsl.spec.base import SpecModel, spec_error

Range = tuple[float, float]


def _ordered(value: Range | None) -> Range | None:
    if value is not None and not value[0] < value[1]:
        raise spec_error("value_error", "a range is written [low, high] with low < high, "
                         "not [{low}, {high}]", low=value[0], high=value[1])
    return value


class HardwareSpec(SpecModel):
    """Weight quantisation (straight-through), clipping, fixed offsets and a learning-rate grid."""

    weight_bits: int | None = Field(None, ge=1, le=24,
                                    description="weights and biases take 2^bits levels evenly "
                                                "spread over `weight_range` in the forward pass; "
                                                "updates reach a float shadow (straight-through)")
    weight_range: Range | None = Field(None, description="[low, high]: weights and biases are "
                                                         "clipped to it after every update")
    shadow_weights: bool = Field(True, description="keep float shadow weights behind the "
                                                   "quantised ones (straight-through); false: the "
                                                   "stored weights are rounded to the levels after "
                                                   "every update, so an update below half a level "
                                                   "is lost, as on a device storing them so")
    input_bits: int | None = Field(None, ge=1, le=24,
                                   description="the network's input is quantised to 2^bits levels "
                                               "over `input_range` (a converter's resolution)")
    input_range: Range | None = Field(None, description="[low, high] of the input converter; "
                                                        "inputs beyond it saturate")
    offset: float = Field(0.0, ge=0, le=1e3,
                          description="deviation of fixed offsets added to every unit's weighted "
                                      "sum, drawn once from the seed and never learned")
    lr_grid: tuple[float, ...] | None = Field(None, min_length=1, max_length=64,
                                              description="the learning rates the device can set; "
                                                          "every rate in the spec must be one, and "
                                                          "each update uses the grid's rate "
                                                          "nearest (log scale) to the one derived "
                                                          "from it (tempering, a scheduler)")

    @field_validator("weight_range", "input_range")
    @classmethod
    def _ranges(cls, value: Range | None) -> Range | None:
        return _ordered(value)

    @field_validator("lr_grid")
    @classmethod
    def _positive_rates(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and min(value) <= 0:
            raise spec_error("value_error", "learning rates on the grid must be positive")
        return value


def nearest_rate(rate: float, grid: tuple[float, ...]) -> float:
    """The rate on `grid` nearest to `rate` on a log scale (a device's rates are steps of a
    ratio, so 0.005 lies nearer 0.01 than 0.001); a rate of 0 (no update) stays 0."""
    if rate <= 0:
        return 0.0
    return min(grid, key=lambda level: (abs(math.log(level / rate)), level))
