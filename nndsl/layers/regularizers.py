"""Noise and dropout layer types: dropout, gaussian_dropout, variational_dropout."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nndsl.layers.dense import MAX_UNITS, Activation, _features
from nndsl.layers.registry import LayerParams, LayerType, LossTerm, Shape, layer_type


class DropoutParams(LayerParams):
    p: float = Field(0.5, ge=0, lt=1, description="probability of dropping a unit")


@layer_type("dropout")
class Dropout(LayerType):
    doc = "binary dropout (identity at evaluation)"
    shape_rule = "any shape, unchanged"
    Params = DropoutParams

    def build(self, params: DropoutParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_dropout
        return build_dropout(params)


class GaussianDropoutParams(LayerParams):
    p: float = Field(0.5, gt=0, lt=1, description="equivalent dropout rate; noise N(1, p/(1-p))")


@layer_type("gaussian_dropout")
class GaussianDropout(LayerType):
    doc = "multiplicative Gaussian noise N(1, alpha), alpha = p/(1-p)"
    shape_rule = "any shape, unchanged"
    Params = GaussianDropoutParams

    def build(self, params: GaussianDropoutParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_gaussian_dropout
        return build_gaussian_dropout(params)


class VariationalDropoutParams(LayerParams):
    units: int | None = Field(None, gt=0, le=MAX_UNITS,
                              description="with units: a linear layer with variational dropout "
                                          "(local reparameterisation); without: noise on "
                                          "activations")
    activation: Activation = Field("linear", description="nonlinearity after the linear layer")
    variant: Literal["A", "B"] = Field("B", description="A: correlated (input) noise; B: "
                                                        "independent weight noise")
    granularity: Literal["weight", "neuron", "layer"] = Field(
        "neuron", description="one learned rate per ...")
    initial_rate: float = Field(0.5, gt=0, lt=1, description="initial dropout rate p (alpha = "
                                                             "p/(1-p))")
    max_alpha: float = Field(1.0, gt=0, le=1.0, description="alpha is clipped at this (the paper "
                                                            "uses 1)")


@layer_type("variational_dropout")
class VariationalDropout(LayerType):
    doc = "Gaussian dropout with learned rates and a KL term (variational dropout)"
    shape_rule = "[..., F] → [..., units] with units; unchanged without"
    Params = VariationalDropoutParams
    loss_terms = (LossTerm("kl", "KL to the log-uniform prior", per_example=True),)

    def output_shape(self, params: VariationalDropoutParams, input_shapes: list[Shape]) -> Shape:
        features = _features(input_shapes[0], self.name)
        del features
        return input_shapes[0] if params.units is None else (*input_shapes[0][:-1], params.units)

    def parameter_count(self, params: VariationalDropoutParams, input_shapes: list[Shape]) -> int:
        features = _features(input_shapes[0], self.name)
        if params.units is None:
            rates = features if params.granularity != "layer" else 1
            return rates
        rates = {"weight": features * params.units,
                 "neuron": params.units if params.variant == "B" else features,
                 "layer": 1}[params.granularity]
        return (features + 1) * params.units + rates

    def build(self, params: VariationalDropoutParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_variational_dropout
        return build_variational_dropout(params, _features(input_shapes[0], self.name))
