"""Spec stage: `tempering:`, per-layer learning rates and error scaling.

Rules: `schraudolph` (tempering backpropagation: local rates from fan-in and activation ranges,
error attenuation by fan-out, the global-rate bound, optional error shunting), `layerwise_decay`
(geometric decay from the top), `width` (rates scaled by base_width / fan-in, in the spirit of
μP), `manual` (multipliers by selector, 0 = frozen) and `none`. `multipliers` and `no_decay`
apply on top of any rule.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nndsl.spec.base import SpecModel
from nndsl.spec.selectors import Selector


class MultiplierSpec(SpecModel):
    """Rate and weight-decay multipliers for selected layers (like Caffe's lr_mult / decay_mult)."""

    select: tuple[Selector, ...] = Field(min_length=1, description="the layers")
    lr: float = Field(1.0, ge=0, le=1e4, description="learning-rate multiplier (0 freezes)")
    weight_decay: float = Field(1.0, ge=0, le=1e4, description="weight-decay multiplier")


class TemperingSpec(SpecModel):
    """How learning rates (and backpropagated errors) vary across layers."""

    rule: Literal["none", "schraudolph", "layerwise_decay", "width", "manual"] = Field(
        "none", description="the rule deciding each layer's learning rate")
    error_attenuation: bool = Field(False, description="schraudolph: scale backpropagated error by "
                                                       "1/(s·sqrt(fan-out))")
    shunting: bool = Field(False, description="schraudolph: biases take the mean error, weights "
                                              "the centred error")
    global_lr: float | Literal["auto"] | None = Field(
        None, description="η; `auto` = the bound 1/sqrt(|T|) (default: optimizer.lr)")
    decay: float = Field(0.8, gt=0, le=1, description="layerwise_decay: factor per unit from the "
                                                      "top")
    base_width: int = Field(256, ge=1,
                            description="width: fan-in at which the rate is optimizer.lr")
    input_power: float | None = Field(None, gt=0, description="schraudolph: ε bound for external "
                                                              "inputs (default: from the data, "
                                                              "e.g. one-hot + bias = 4)")
    multipliers: tuple[MultiplierSpec, ...] = Field((), description="per-selector multipliers")
    no_decay: tuple[Literal["bias", "norm"], ...] = Field((),
                                                          description="parameters excluded from "
                                                                      "weight decay")
