"""Variational and Gaussian dropout and the KL term against Kingma, Salimans & Welling (2015)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nndsl.backend.modules.noise import GaussianDropout, bound_from_above
from nndsl.backend.modules.variational_dropout import (
    VariationalDropout,
    VariationalDropoutLinear,
    log_uniform_kl,
    total_kl,
)

C1, C2, C3 = 1.16145124, -1.50204118, 0.58629921
# Standard errors allowed between a Monte-Carlo estimate and its formula. With a fixed seed the test
# is deterministic; 5 standard errors is far below the deviation any wrong formula would cause.
STANDARD_ERRORS = 5.0


def reference_kl(alpha: float) -> float:
    """KL = f(1) − f(α), f(α) = 0.5 log α + c1 α + c2 α² + c3 α³, computed apart in numpy."""

    def fit(a: float) -> float:
        return 0.5 * np.log(a) + C1 * a + C2 * a**2 + C3 * a**3

    return float(fit(1.0) - fit(alpha))


@pytest.mark.parametrize("alpha", [1e-3, 0.01, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_kl_matches_the_formula_for_every_granularity(alpha: float) -> None:
    rate = alpha / (1.0 + alpha)  # α = p / (1 − p) inverted
    expected = reference_kl(alpha)
    for granularity, terms in (("weight", 12), ("neuron", 12), ("layer", 12)):
        layer = VariationalDropoutLinear(4, 3, rate_granularity=granularity, initial_rate=rate)
        assert layer.kl_divergence().item() == pytest.approx(terms * expected, rel=1e-5, abs=1e-5)
    type_a = VariationalDropoutLinear(4, 3, variant="A", rate_granularity="neuron",
                                      initial_rate=rate)
    assert type_a.kl_divergence().item() == pytest.approx(4 * expected, rel=1e-5, abs=1e-5)
    noise = VariationalDropout(5, initial_rate=rate, granularity="layer")
    assert noise.kl_divergence().item() == pytest.approx(5 * expected, rel=1e-5, abs=1e-5)


def test_kl_is_non_negative_zero_at_the_bound_and_decreasing_in_alpha() -> None:
    log_alpha = torch.linspace(math.log(1e-6), 0.0, 2001, dtype=torch.float64)
    kl = log_uniform_kl(log_alpha)
    assert (kl >= 0).all()
    assert kl[-1].item() == pytest.approx(0.0, abs=1e-12)
    assert (kl[1:] < kl[:-1]).all()  # more noise, fewer significant digits stored, smaller KL
    layer = VariationalDropoutLinear(6, 5)
    with torch.no_grad():
        layer.log_alpha.uniform_(-8.0, 3.0)  # also above the bound, where α is clipped to 1
    assert layer.kl_divergence().item() >= 0.0


def _repeated_inputs(samples: int) -> torch.Tensor:
    rows = torch.tensor([[1.0, -2.0, 0.5, 0.0], [0.3, 0.7, -1.5, 2.0]])  # (2, 4)
    return rows.repeat_interleave(samples, dim=0).reshape(2, samples, 4)  # (2, samples, 4)


@pytest.mark.parametrize("variant", ["A", "B"])
def test_training_outputs_have_the_predicted_mean_variance_and_correlation(variant: str) -> None:
    torch.manual_seed(0)
    granularity = "weight" if variant == "B" else "neuron"
    layer = VariationalDropoutLinear(4, 3, variant=variant, rate_granularity=granularity)
    # Distinct α per posterior variable so that a mixed-up index shows; all < 1 so α ≠ √α.
    alphas = torch.linspace(0.1, 0.8, layer.log_alpha.numel()).view_as(layer.log_alpha)
    with torch.no_grad():
        layer.log_alpha.copy_(alphas.log())
    samples = 40_000
    inputs = _repeated_inputs(samples)
    with torch.no_grad():
        outputs = layer.train()(inputs).double()  # (2, samples, 3)
        weight, bias, alpha = layer.weight.double(), layer.bias.double(), layer.alpha().double()
    for row, features in enumerate(inputs[:, 0].double()):
        mean = features @ weight.T + bias  # γ = Aθ + bias, (3,)
        if variant == "B":
            # δ = α (A∘A)(θ∘θ) with independent units.
            covariance = torch.diag((features**2) @ (alpha * weight**2).T)
        else:
            # ξ on inputs: Cov(b_j, b_k) = Σ_i α_i a_i² θ_ji θ_ki — correlated units.
            covariance = weight @ torch.diag(alpha * features**2) @ weight.T
        sample = outputs[row]  # (samples, 3)
        sample_mean = sample.mean(0)
        sample_covariance = torch.cov(sample.T)
        mean_error = STANDARD_ERRORS * (covariance.diagonal() / samples).sqrt()
        assert ((sample_mean - mean).abs() <= mean_error).all()
        # Standard error of a sample covariance: sqrt((σ_jj σ_kk + σ_jk²) / n).
        scale = torch.outer(covariance.diagonal(), covariance.diagonal()) + covariance**2
        covariance_error = STANDARD_ERRORS * (scale / samples).sqrt()
        assert ((sample_covariance - covariance).abs() <= covariance_error + 1e-7).all()
        # The tolerance is a small fraction of each variance: dropping α, using √α or sampling once
        # per batch instead of per datapoint would all fail.
        assert (covariance.diagonal() > 10 * covariance_error.diagonal()).all()


def test_eval_mode_returns_the_deterministic_mean() -> None:
    torch.manual_seed(1)
    type_a = VariationalDropoutLinear(4, 3, variant="A", rate_granularity="layer")
    for layer in (VariationalDropoutLinear(4, 3), type_a):
        inputs = torch.randn(7, 4)
        layer.eval()
        first, second = layer(inputs), layer(inputs)
        assert torch.equal(first, second)
        torch.testing.assert_close(first, inputs @ layer.weight.T + layer.bias)
    noise = VariationalDropout(4).eval()
    inputs = torch.randn(7, 4)
    assert torch.equal(noise(inputs), inputs)


def test_alpha_is_clipped_at_max_alpha_and_gradients_pass_back_only_downwards() -> None:
    for max_alpha in (1.0, 0.25):
        layer = VariationalDropoutLinear(3, 2, rate_granularity="layer", max_alpha=max_alpha)
        with torch.no_grad():
            layer.log_alpha.fill_(2.0)
        assert layer.alpha().item() == pytest.approx(max_alpha)
        assert layer.kl_divergence().item() == pytest.approx(6 * reference_kl(max_alpha), abs=1e-6)
    value = torch.tensor([-1.0, 0.5, 0.5], requires_grad=True)
    bounded = bound_from_above(value, 0.0)
    assert bounded.tolist() == [-1.0, 0.0, 0.0]
    # Upstream gradients: −1 asks to raise value[1] (blocked above the bound), +1 to lower value[2].
    bounded.backward(torch.tensor([2.0, -1.0, 1.0]))
    assert value.grad.tolist() == [2.0, 0.0, 1.0]


@pytest.mark.parametrize("variant,granularity", [("B", "weight"), ("B", "neuron"), ("A", "layer")])
def test_gradients_reach_log_alpha_from_the_data_term_and_the_kl(variant, granularity) -> None:
    torch.manual_seed(2)
    layer = VariationalDropoutLinear(5, 3, variant=variant, rate_granularity=granularity,
                                     initial_rate=0.2)
    inputs, targets = torch.randn(64, 5), torch.randn(64, 3)
    data_loss = ((layer(inputs) - targets) ** 2).mean()
    data_loss.backward()
    assert torch.isfinite(layer.log_alpha.grad).all() and (layer.log_alpha.grad != 0).all()
    layer.zero_grad()
    layer.kl_divergence().backward()
    assert (layer.log_alpha.grad < 0).all()  # the KL alone always asks for more noise


def test_zero_inputs_give_finite_gradients() -> None:
    layer = VariationalDropoutLinear(3, 2)
    layer(torch.zeros(4, 3)).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_activation_noise_variance_follows_alpha_on_the_feature_dimension() -> None:
    torch.manual_seed(3)
    noise = VariationalDropout(3, granularity="neuron", feature_dimension=1)
    with torch.no_grad():
        noise.log_alpha.copy_(torch.log(torch.tensor([0.05, 0.3, 1.0])))
    inputs = torch.full((2000, 3, 4, 5), 2.0)  # (batch, channels, height, width)
    outputs = noise.train()(inputs)
    variance = outputs.transpose(0, 1).reshape(3, -1).var(dim=1)  # per channel
    expected = 4.0 * torch.tensor([0.05, 0.3, 1.0])  # Var(2ξ) = 4α
    samples = 2000 * 20
    tolerance = STANDARD_ERRORS * expected * math.sqrt(2 / samples)
    assert ((variance - expected).abs() <= tolerance).all()


def test_gaussian_dropout_has_variance_alpha_and_is_identity_in_eval() -> None:
    torch.manual_seed(4)
    dropout = GaussianDropout(0.2)  # α = 0.25
    inputs = torch.full((200_000,), 3.0)
    outputs = dropout.train()(inputs)
    assert outputs.mean().item() == pytest.approx(3.0, abs=STANDARD_ERRORS * 1.5 / math.sqrt(2e5))
    assert outputs.var().item() == pytest.approx(9 * 0.25, rel=STANDARD_ERRORS * math.sqrt(2 / 2e5))
    assert torch.equal(dropout.eval()(inputs), inputs)
    assert torch.equal(GaussianDropout(0.0).train()(inputs), inputs)


def test_total_kl_sums_every_module_once() -> None:
    first = VariationalDropoutLinear(4, 6)
    noise = VariationalDropout(6)
    model = nn.Sequential(first, nn.ReLU(), noise, nn.Linear(6, 2), nn.Sequential(first))
    with torch.no_grad():
        first.log_alpha.uniform_(-3.0, -0.5)
    expected = first.kl_divergence() + noise.kl_divergence()
    torch.testing.assert_close(total_kl(model), expected)
    assert total_kl(nn.Linear(2, 2)).item() == 0.0


def test_type_a_has_no_per_weight_rate() -> None:
    with pytest.raises(ValueError, match="no type .A. with .weight. rates"):
        VariationalDropoutLinear(4, 3, variant="A", rate_granularity="weight")
