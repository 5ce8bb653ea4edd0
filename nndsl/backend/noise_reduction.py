"""Backend stage: the noise-reduction ratio, a torchmetrics metric for noise cancellers.

In: the canceller's output y (after its plant) and the target d, the disturbance at the quiet
zone. Out: NRR = 10·log10(Σ e² / Σ d²) dB with e = d - y, summed over every example of the epoch
(more negative is better; 0 dB cancels nothing). Sums, not means, are kept, so batches of any
size and processes under DDP combine exactly.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

#: Keeps log10 finite when both sums vanish (a silent stream).
ENERGY_FLOOR = 1e-20


class NoiseReductionRatio(Metric):
    """10·log10(Σ (d - y)² / Σ d²) over everything seen since the last reset."""

    higher_is_better = False
    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("residual", default=torch.tensor(0.0, dtype=torch.float64),
                       dist_reduce_fx="sum")
        self.add_state("disturbance", default=torch.tensor(0.0, dtype=torch.float64),
                       dist_reduce_fx="sum")

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        targets = targets.to(torch.float64).reshape(outputs.shape)
        self.residual += (targets - outputs.to(torch.float64)).pow(2).sum()
        self.disturbance += targets.pow(2).sum()

    def compute(self) -> torch.Tensor:
        ratio = (self.residual + ENERGY_FLOOR) / (self.disturbance + ENERGY_FLOOR)
        return (10 * torch.log10(ratio)).to(torch.float32)
