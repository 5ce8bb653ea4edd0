"""Backend stage: feature standardisation as a torch module, for models used outside training.

In: `FeatureStatistics` fitted on a run's training split (`nndsl.data.standardize`). Out: a
module mapping raw inputs `[B, *shape]` to `(inputs - mean) / std`, which `nndsl predict` and
`nndsl export` put in front of the trained network, so both take raw inputs as training read them
from the data files. The statistics are buffers: exported files carry them.
"""

from __future__ import annotations

import torch

from nndsl.data.standardize import FeatureStatistics


class Standardize(torch.nn.Module):
    """`(inputs - mean) / std` with the statistics as buffers (broadcast over leading axes)."""

    def __init__(self, statistics: FeatureStatistics) -> None:
        super().__init__()
        dtype = torch.get_default_dtype()
        self.register_buffer("mean", torch.tensor(statistics.mean, dtype=dtype).reshape(
            statistics.shape))
        self.register_buffer("std", torch.tensor(statistics.std, dtype=dtype).reshape(
            statistics.shape))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return (inputs - self.mean) / self.std
