"""Backend stage: a bank of predictive MLPs (linked predictive neural networks, Tebelskis et al.).

In: a padded batch of frame sequences `[B, T, F]`. Out: `[B, T, N, F]`, every predictor's
forecast of frame t from the `context` frames before it (zeros stand in before the first frame).

Each predictor is a one-hidden-layer MLP (context x F inputs, `hidden` units, F linear outputs).
With `networks` < N the N predictors share `networks` MLPs and are told apart by hidden-control
inputs (Levin 1990): one-hot "state" bits fed to the shared MLP, i.e. a learned vector per
predictor added to the shared hidden layer's input. `networks` = N gives independent predictors,
`networks` = number of phones gives one hidden-control net per phone, 1 gives one net for all.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PredictorBank(nn.Module):
    """N frame predictors in `networks` MLPs; see the module docstring.

    Args:
        features: F, the frame size (inputs and outputs).
        predictors: N, the number of predictors (phones x states).
        context: frames each prediction reads (the frames just before the predicted one).
        hidden: hidden units per MLP.
        networks: MLPs; predictor n uses MLP n // (N / networks). Must divide N.
    """

    def __init__(self, features: int, predictors: int, context: int, hidden: int,
                 networks: int) -> None:
        super().__init__()
        self.features, self.predictors, self.context = features, predictors, context
        self.hidden, self.networks = hidden, networks
        inputs = context * features
        self.input_weights = nn.Parameter(torch.empty(networks, inputs, hidden))
        self.input_bias = nn.Parameter(torch.empty(networks, hidden))
        self.output_weights = nn.Parameter(torch.empty(networks, hidden, features))
        self.output_bias = nn.Parameter(torch.empty(networks, features))
        # The hidden-control bits' weights: one vector per predictor (absent when each
        # predictor has its own MLP, where such bits would be a constant).
        shared = networks < predictors
        self.control = nn.Parameter(torch.empty(predictors, hidden)) if shared else None
        self.register_buffer("network_of", torch.arange(predictors) // (predictors // networks),
                             persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.Linear's default initialisation, per MLP (and for the control weights)."""
        inputs = self.context * self.features + (1 if self.control is not None else 0)
        for parameter, fan_in in ((self.input_weights, inputs), (self.input_bias, inputs),
                                  (self.output_weights, self.hidden),
                                  (self.output_bias, self.hidden)):
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(parameter, -bound, bound)
        if self.control is not None:
            nn.init.uniform_(self.control, -1 / math.sqrt(inputs), 1 / math.sqrt(inputs))

    def windows(self, frames: torch.Tensor) -> torch.Tensor:
        """`[B, T, F]` -> `[B, T, context * F]`: frames t-context .. t-1 for each t, oldest
        first."""
        padded = nn.functional.pad(frames, (0, 0, self.context, 0))
        steps = frames.shape[1]
        return torch.cat([padded[:, offset: offset + steps] for offset in range(self.context)],
                         dim=-1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        windows = self.windows(frames)
        hidden = torch.einsum("btk,gkh->btgh", windows, self.input_weights) + self.input_bias
        hidden = hidden[:, :, self.network_of]  # [B, T, N, H]
        if self.control is not None:
            hidden = hidden + self.control
        hidden = torch.tanh(hidden)
        output_weights = self.output_weights[self.network_of]  # [N, H, F]
        output = torch.einsum("btnh,nhf->btnf", hidden, output_weights)
        return output + self.output_bias[self.network_of]
