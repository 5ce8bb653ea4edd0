"""Backend stage: the forward-backward algorithm as one autograd function (HMM log-likelihoods).

In: log initial probabilities `[M, S]`, transition probabilities `[M, S, S]`, per-frame emission
log-densities `[B, T, M, S]` and the frames that are real (not padding) `[B, T]`. Out: log P(x|H)
`[B, M]`, and on the backward pass the exact gradients the forward-backward algorithm gives:
∂ log P / ∂ e_t(j) = γ_t(j), ∂ log P / ∂ log π_i = γ_1(i), ∂ log P / ∂ a_ij = Σ_t ξ_t(i, j) / a_ij.

Why by hand: autograd through a T-step recursion records a dozen small operations per step and
replays them one by one, about five times slower than the forward pass on CPU. The backward
recursion of the forward-backward algorithm costs the same as the forward one and needs no
graph. The recursions run in probability space, each step rescaled to sum to one (Rabiner's
scaling); the emission densities are divided by their per-frame maximum first, so nothing
underflows however far a frame lies from a state. log P = Σ_t (log c_t + max_j e_t(j)).
"""

from __future__ import annotations

import torch


class ForwardBackward(torch.autograd.Function):
    """log P(x_1:T | H_m) for every sequence and model; see the module docstring."""

    @staticmethod
    def forward(context, log_initial: torch.Tensor, transitions: torch.Tensor,
                emissions: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        steps = emissions.shape[1]
        tiny = torch.finfo(emissions.dtype).tiny
        # Models lead inside the loop ([T, M, B, S]): one batched matrix product per step, M
        # products of [B, S] x [S, S], which is many times faster than B x M tiny ones.
        emissions = emissions.permute(1, 2, 0, 3)
        peaks = emissions.max(dim=-1, keepdim=True).values  # [T, M, B, 1]
        scaled = torch.exp(emissions - peaks).contiguous()  # b̂
        mask = valid.transpose(0, 1)[:, None, :]  # [T, 1, B]
        alphas = torch.empty_like(scaled)
        scales = torch.ones_like(scaled[..., 0])  # c [T, M, B]
        alpha = log_initial.exp()[:, None, :] * scaled[0]
        scales[0] = alpha.sum(-1).clamp(min=tiny)
        alphas[0] = alpha = alpha / scales[0, ..., None]
        for step in range(1, steps):
            advanced = torch.bmm(alpha, transitions) * scaled[step]  # Σ_i α̂(i) a_ij b̂_t(j)
            total = advanced.sum(-1).clamp(min=tiny)
            real = mask[step]
            scales[step] = torch.where(real, total, torch.ones_like(total))
            alpha = torch.where(real[..., None], advanced / total[..., None], alpha)
            alphas[step] = alpha
        log_scales = torch.log(scales) + peaks.squeeze(-1) * mask
        context.save_for_backward(transitions, alphas, scaled, scales, mask)
        return log_scales.sum(0).transpose(0, 1)

    @staticmethod
    def backward(context, upstream: torch.Tensor):
        transitions, alphas, scaled, scales, mask = context.saved_tensors
        steps = alphas.shape[0]
        upstream = upstream.transpose(0, 1)  # [M, B]
        weights = torch.zeros_like(scaled)  # b̂_t β̂_t / c_t, the ξ factor of frame t (t ≥ 1)
        beta = torch.ones_like(alphas[0])
        posteriors = torch.empty_like(alphas)  # γ_t = α̂_t β̂_t
        posteriors[steps - 1] = alphas[steps - 1]
        transposed = transitions.transpose(-1, -2)
        for step in range(steps - 1, 0, -1):
            real = mask[step, ..., None]
            weight = torch.where(real, scaled[step] * beta / scales[step, ..., None],
                                 torch.zeros_like(beta))
            weights[step] = weight
            # β̂_t-1 = A (b̂_t β̂_t) / c_t inside the sequence; 1 at and after its last frame.
            beta = torch.where(real, torch.bmm(weight, transposed), torch.ones_like(beta))
            posteriors[step - 1] = alphas[step - 1] * beta
        real_frames = mask[..., None].to(posteriors.dtype)
        gradient_emissions = posteriors * real_frames * upstream[None, ..., None]
        gradient_emissions = gradient_emissions.permute(2, 0, 1, 3)  # back to [B, T, M, S]
        gradient_initial = (posteriors[0] * upstream[..., None]).sum(1)
        # Σ_b,t g_bm α̂_t-1(i) a_ij w_t(j) / a_ij = the expected transition counts divided by a_ij
        gradient_transitions = torch.einsum("tmbi,tmbj,mb->mij", alphas[:-1], weights[1:], upstream)
        return gradient_initial, gradient_transitions, gradient_emissions, None


def hmm_log_likelihood(log_initial: torch.Tensor, transitions: torch.Tensor,
                       emissions: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """log P(x_1:T | H_m) `[B, M]` by the scaled forward algorithm (see the module docstring)."""
    return ForwardBackward.apply(log_initial, transitions, emissions, valid)
