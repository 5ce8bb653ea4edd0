"""Recurrent layer types over sequences [T, F]: lstm, blstm, gru, rnn.

Parameter counts follow torch.nn's layout (two bias vectors per gate set), so that `nndsl show`
and the built module agree exactly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nndsl.layers.dense import _features
from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import check_size, format_shape, require_rank

_GATES = {"lstm": 4, "blstm": 4, "gru": 3, "rnn": 1}


class RecurrentParams(LayerParams):
    hidden: int = Field(gt=0, le=100_000, description="hidden units per direction")
    layers: int = Field(1, ge=1, le=64, description="stacked recurrent layers")
    bidirectional: bool = Field(False, description="run a second layer backwards in time")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between stacked layers")
    output: Literal["sequence", "last"] = Field("sequence", description="every step [T, H] or the "
                                                                        "last [H]")


class LSTMParams(RecurrentParams):
    projection: int | None = Field(None, gt=0, description="project the hidden state to this size "
                                                           "(LSTMP)")


class BLSTMParams(LSTMParams):
    bidirectional: bool = Field(True, description="always true for blstm")


class RNNParams(RecurrentParams):
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="the cell's nonlinearity")


class _Recurrent(LayerType):
    recurrent = True

    def _output_size(self, params: Any) -> int:
        return (getattr(params, "projection", None) or params.hidden) * (2 if params.bidirectional
                                                                         else 1)

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2,), self.name, "a sequence [T, features]")
        if self.name == "blstm" and not params.bidirectional:
            raise ShapeProblem("E311", "`blstm` is bidirectional by definition",
                               "use `lstm` for one direction")
        _features(shape, self.name)
        check_size(self.parameter_count(params, input_shapes), f"`{self.name}`")
        size = self._output_size(params)
        return (size,) if params.output == "last" else (shape[0], size)

    def parameter_count(self, params: Any, input_shapes: list[Shape]) -> int:
        gates = _GATES[self.name]
        hidden = params.hidden
        recurrent_size = getattr(params, "projection", None) or hidden
        directions = 2 if params.bidirectional else 1
        total = 0
        input_size = _features(input_shapes[0], self.name)
        for _ in range(params.layers):
            per_direction = gates * hidden * (input_size + recurrent_size) + 2 * gates * hidden
            if recurrent_size != hidden:
                per_direction += recurrent_size * hidden  # the projection matrix
            total += directions * per_direction
            input_size = recurrent_size * directions
        return total

    def activation(self, params: Any) -> str:
        return getattr(params, "nonlinearity", "tanh")

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.builders import build_recurrent
        return build_recurrent(self.name, params, _features(input_shapes[0], self.name))


@layer_type("lstm")
class LSTM(_Recurrent):
    doc = "long short-term memory over [T, F]; `projection` gives LSTMP"
    shape_rule = "[T, F] → [T, projection or hidden] ([projection or hidden] with output: last)"
    Params = LSTMParams


@layer_type("blstm")
class BLSTM(_Recurrent):
    doc = "bidirectional LSTM over [T, F] (outputs both directions concatenated)"
    shape_rule = "[T, F] → [T, 2 × (projection or hidden)] ([2 × ...] with output: last)"
    Params = BLSTMParams


@layer_type("gru")
class GRU(_Recurrent):
    doc = "gated recurrent unit over [T, F]"
    shape_rule = "[T, F] → [T, hidden × directions] ([hidden × directions] with output: last)"
    Params = RecurrentParams


@layer_type("rnn")
class RNN(_Recurrent):
    doc = "plain (Elman) recurrent layer over [T, F]"
    shape_rule = "[T, F] → [T, hidden × directions] ([hidden × directions] with output: last)"
    Params = RNNParams


__all__ = ["format_shape"]
