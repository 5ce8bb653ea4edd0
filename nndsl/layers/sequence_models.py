"""Layer types for sequence models: HMM banks (relative density nets) and predictor banks (LPNN).

`hmm_likelihood`: a bank of M Gaussian HMMs (or Gaussian mixtures), `[T, F]` -> `[M]`, each
output a sequence's (per-frame) log-likelihood under one model. `pairwise_relative`: the
relative density units σ(ℓ_m - ℓ_n) for all M(M-1)/2 pairs, `[M]` -> `[M(M-1)/2]`.
`predictor_bank`: N MLPs forecasting each frame from the frames before it, `[T, F]` -> `[T, N, F]`.

Shape rules and parameter counts are pure Python; builders import the backend lazily.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nndsl.layers.dense import _features
from nndsl.layers.registry import LayerParams, LayerType, Shape, ShapeProblem, layer_type
from nndsl.layers.shapes import check_size, format_shape, is_symbolic, require_rank


class HMMLikelihoodParams(LayerParams):
    models: int = Field(gt=0, le=10_000, description="M, the number of models in the bank")
    states: int = Field(gt=0, le=1_000, description="S, states (mixture components) per model")
    kind: Literal["hmm", "mixture"] = Field(
        "hmm", description="hmm: fully connected transitions; mixture: frames drawn independently "
                           "from a Gaussian mixture (no transitions)")
    per_frame: bool = Field(True, description="divide log P(x|H) by the sequence length T")
    mean_scale: float = Field(1.0, gt=0, description="deviation of the random initial means")


@layer_type("hmm_likelihood")
class HMMLikelihoodLayer(LayerType):
    doc = "bank of M diagonal-Gaussian HMMs: [T, F] -> [M] per-frame log-likelihoods"
    Params = HMMLikelihoodParams

    def output_shape(self, params: HMMLikelihoodParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2,), self.name, "a sequence [T, features]")
        _features(shape, self.name)
        check_size(self.parameter_count(params, input_shapes), f"`{self.name}`")
        return (params.models,)

    def parameter_count(self, params: HMMLikelihoodParams, input_shapes: list[Shape]) -> int:
        features = _features(input_shapes[0], self.name)
        states = params.states
        transitions = states * states if params.kind == "hmm" else 0
        # initial (or mixing) logits, transition logits, means and log-variances per model
        return params.models * (states + transitions + 2 * states * features)

    def build(self, params: HMMLikelihoodParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.hmm import HMMLikelihood
        return HMMLikelihood(_features(input_shapes[0], self.name), params.models, params.states,
                             params.kind, params.per_frame, params.mean_scale)


@layer_type("pairwise_relative")
class PairwiseRelativeLayer(LayerType):
    doc = "relative density units: σ(ℓ_m - ℓ_n) for every pair of the M inputs, [M] -> [M(M-1)/2]"

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (1,), self.name, "one score per model [M]")
        models = shape[0]
        if is_symbolic(models) or int(models) < 2:
            raise ShapeProblem("E504", f"`{self.name}` compares pairs of scores, but its input is "
                               f"{format_shape(shape)}", "give it at least two models' scores")
        pairs = int(models) * (int(models) - 1) // 2
        check_size(pairs, f"`{self.name}`")
        return (pairs,)

    def activation(self, params: Any) -> str:
        return "logistic"

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.hmm import PairwiseRelative
        return PairwiseRelative(int(input_shapes[0][0]))


class PredictorBankParams(LayerParams):
    predictors: int = Field(gt=0, le=100_000,
                            description="N, predictors (phones x states per phone)")
    context: int = Field(2, ge=1, le=100, description="frames before t that predict frame t")
    hidden: int = Field(30, gt=0, le=100_000, description="hidden units per MLP")
    networks: int | None = Field(
        None, gt=0, description="MLPs the predictors share through hidden-control inputs (default: "
                                "one per predictor; phones: one per phone; 1: one for all)")


@layer_type("predictor_bank")
class PredictorBankLayer(LayerType):
    doc = "N frame-predicting MLPs (linked predictive nets): [T, F] -> [T, N, F]; hidden control"
    Params = PredictorBankParams

    def _networks(self, params: PredictorBankParams) -> int:
        networks = params.networks or params.predictors
        if params.predictors % networks:
            raise ShapeProblem("E504", f"`{self.name}` shares {params.predictors} predictors among "
                               f"{networks} networks, which does not divide them evenly",
                               "make `networks` a divisor of `predictors`")
        return networks

    def output_shape(self, params: PredictorBankParams, input_shapes: list[Shape]) -> Shape:
        shape = input_shapes[0]
        require_rank(shape, (2,), self.name, "a sequence [T, features]")
        features = _features(shape, self.name)
        self._networks(params)
        check_size(self.parameter_count(params, input_shapes), f"`{self.name}`")
        return (shape[0], params.predictors, features)

    def parameter_count(self, params: PredictorBankParams, input_shapes: list[Shape]) -> int:
        features = _features(input_shapes[0], self.name)
        networks = params.networks or params.predictors
        hidden = params.hidden
        per_network = (params.context * features + 1) * hidden + (hidden + 1) * features
        control = params.predictors * params.hidden if networks < params.predictors else 0
        return networks * per_network + control

    def activation(self, params: PredictorBankParams) -> str:
        return "linear"

    def build(self, params: PredictorBankParams, input_shapes: list[Shape]) -> Any:
        from nndsl.backend.modules.predictors import PredictorBank
        return PredictorBank(_features(input_shapes[0], self.name), params.predictors,
                             params.context, params.hidden, self._networks(params))
