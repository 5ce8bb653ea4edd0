"""Backend stage: the modules behind `nndsl.layers.elementwise` (scale, glu, transpose).

In: a batch `[B, ...]`. Out: the batch scaled, gated (one axis halved) or with its two example
axes swapped (a view; per-example lengths are unchanged, they count time steps either way).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs * self.factor


class GatedLinearUnit(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis  # of the batch, so counting the batch axis

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return functional.glu(inputs, dim=self.axis)


class Transpose(nn.Module):
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.transpose(1, 2)
