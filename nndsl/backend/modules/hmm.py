"""Backend stage: a bank of small Gaussian HMMs scoring sequences (relative density nets).

In: a padded batch of sequences `[B, T, F]` and their lengths `[B]`. Out: `[B, M]`, each
sequence's log-likelihood under each of the M models, divided by its length when `per_frame`
(Brown & Hinton's ℓ_m = (1/T) log P(x_1:T | H_m), which makes scores independent of length).

Each model has S states with one diagonal Gaussian per state. Probabilities are parameterised as
in the paper, so that optimisation is unconstrained: transitions a_ij = softmax_j θ^a_ij, initial
probabilities π_i = softmax_i θ^π_i, variances v_id = exp θ^v_id. The likelihood is the forward
algorithm (scaled, so it never underflows; hmm_forward.py) whose backward pass is the
forward-backward algorithm: the posterior-expected gradients of the paper's eq. 16-19
(tests/backend/test_hmm_likelihood.py checks them against the closed form and finite differences).

The `mixture` kind drops the transitions: every frame is drawn independently from the mixture
π (a Gaussian mixture model, the paper's MoGnet control).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nndsl.backend.modules.hmm_forward import hmm_log_likelihood

LOG_TWO_PI = math.log(2 * math.pi)


class HMMLikelihood(nn.Module):
    """Per-sequence log-likelihoods under M Gaussian HMMs (or mixtures) with S states each.

    Args:
        features: F, the size of a frame.
        models: M, the number of models in the bank.
        states: S, states (mixture components) per model.
        kind: "hmm" (fully connected transitions) or "mixture" (frames independent).
        per_frame: divide each log-likelihood by the sequence's length.
        mean_scale: standard deviation of the initial means (drawn around zero; symmetry breaking).
    """

    takes_lengths = True

    def __init__(self, features: int, models: int, states: int, kind: str = "hmm",
                 per_frame: bool = True, mean_scale: float = 1.0) -> None:
        super().__init__()
        self.features, self.models, self.states = features, models, states
        self.kind, self.per_frame, self.mean_scale = kind, per_frame, mean_scale
        self.initial_logits = nn.Parameter(torch.empty(models, states))
        self.transition_logits = (nn.Parameter(torch.empty(models, states, states))
                                  if kind == "hmm" else None)
        self.means = nn.Parameter(torch.empty(models, states, features))
        self.log_variances = nn.Parameter(torch.empty(models, states, features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform initial and transition probabilities, unit variances, random means."""
        nn.init.zeros_(self.initial_logits)
        if self.transition_logits is not None:
            nn.init.zeros_(self.transition_logits)
        nn.init.normal_(self.means, 0.0, self.mean_scale)
        nn.init.zeros_(self.log_variances)

    def emission_log_probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        """log N(x_t; μ_ms, v_ms) for every frame, model and state: `[B, T, F]` -> `[B, T, M, S]`.

        The squared distance is expanded (Σ x²/v - 2 Σ x μ/v + Σ μ²/v) into two matrix products,
        so no `[B, T, M, S, F]` tensor is ever built.
        """
        precisions = torch.exp(-self.log_variances).reshape(-1, self.features)  # [M*S, F]
        means = self.means.reshape(-1, self.features)
        squared = (inputs * inputs) @ precisions.T - 2 * inputs @ (means * precisions).T
        constant = (means * means * precisions).sum(-1) + self.log_variances.reshape(
            -1, self.features).sum(-1) + self.features * LOG_TWO_PI
        log_densities = -0.5 * (squared + constant)
        return log_densities.reshape(*inputs.shape[:2], self.models, self.states)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        batch, steps = inputs.shape[:2]
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long, device=inputs.device)
        lengths = lengths.to(inputs.device)
        emissions = self.emission_log_probabilities(inputs)
        log_initial = torch.log_softmax(self.initial_logits, dim=-1)  # [M, S]
        valid = torch.arange(steps, device=inputs.device)[None, :] < lengths[:, None]  # [B, T]
        if self.transition_logits is None:
            per_frame = torch.logsumexp(emissions + log_initial, dim=-1)  # [B, T, M]
            total = torch.where(valid[:, :, None], per_frame, torch.zeros_like(per_frame)).sum(1)
        else:
            transitions = torch.softmax(self.transition_logits, dim=-1)  # [M, S, S], rows sum to 1
            total = hmm_log_likelihood(log_initial, transitions, emissions, valid)
        if self.per_frame:
            total = total / lengths.clamp(min=1)[:, None].to(total.dtype)
        return total


class PairwiseRelative(nn.Module):
    """Relative density units: σ(ℓ_m - ℓ_n) for every pair m < n, `[B, M]` -> `[B, M(M-1)/2]`.

    The fixed ±1 connections of the paper's eq. 7; pairs are in row-major order (0,1), (0,2), ...
    """

    def __init__(self, models: int) -> None:
        super().__init__()
        first, second = torch.triu_indices(models, models, offset=1)
        self.register_buffer("first", first, persistent=False)
        self.register_buffer("second", second, persistent=False)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(scores[..., self.first] - scores[..., self.second])
