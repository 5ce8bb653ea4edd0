"""Backend stage: torch modules of the plant layer types (`nndsl.layers.plants`).

In: a plant's fixed coefficients. Out: a module whose coefficients are buffers, so no optimiser
ever sees them and they travel with the state dict; gradients flow through to the input.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class FirChannelModule(nn.Module):
    """y[b, t, f] = Σ_k taps[k] · u[b, t - k, f], zero before the first step.

    Inputs [B, T, F], or [B, W] (a window of one signal, oldest step first). With `keep_last`
    only the newest step's output is returned, [B, F] or [B, 1].
    """

    def __init__(self, taps: tuple[float, ...], keep_last: bool = False):
        super().__init__()
        self.register_buffer("taps", torch.tensor(taps, dtype=torch.float32))
        self.keep_last = keep_last

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() == 2:  # a flat window of one signal: [B, W] as [B, W, 1]
            filtered = self.forward(inputs.unsqueeze(-1))
            return filtered if self.keep_last else filtered.squeeze(-1)
        if self.keep_last:
            # y(now) = Σ_k taps[k] · u(now - k): the window's last len(taps) steps, newest last.
            count = self.taps.shape[0]
            window = inputs[:, inputs.shape[1] - count:, :]
            return torch.einsum("btf,t->bf", window, self.taps.flip(0).to(inputs.dtype))
        batch, steps, features = inputs.shape
        signal = inputs.transpose(1, 2).reshape(batch * features, 1, steps)
        # conv1d correlates; flipping the taps and padding on the left makes it a causal filter.
        kernel = self.taps.flip(0).to(inputs.dtype).view(1, 1, -1)
        padded = functional.pad(signal, (kernel.shape[-1] - 1, 0))
        filtered = functional.conv1d(padded, kernel)
        return filtered.reshape(batch, features, steps).transpose(1, 2)


class CubicSpeakerModule(nn.Module):
    """S(u) = u - a·u³ (memoryless loudspeaker distortion)."""

    def __init__(self, a: float):
        super().__init__()
        self.register_buffer("distortion", torch.tensor(float(a)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs - self.distortion.to(inputs.dtype) * inputs.pow(3)
