"""Local winner-take-all blocks (backend stage).

Backend stage, from Srivastava, Masci, Kazerounian, Gomez & Schmidhuber, "Compete to Compute"
(NIPS 2013). In: activations `(..., blocks * block_size)`; out: the same shape in which, inside
every block of `block_size` consecutive units, only the largest activation passes, the others are 0.

The competition replaces the per-unit nonlinearity (the units are linear, f(x) = x): y_i^j = h_i^j
if h_i^j ≥ h_i^k for all k in block i, else 0, with ties broken by index precedence (the lower index
wins). Because the output is the input times a 0/1 mask, backpropagated errors reach the winners
only and every loser gets an exact zero gradient, which is what makes the network split into
sub-networks per input and forget less.
"""

from __future__ import annotations

import torch.nn.functional as functional
from torch import Tensor, nn


def local_winner_take_all(inputs: Tensor, block_size: int) -> Tensor:
    """Keeps the maximum of each block of `block_size` units on the last dimension, zeroes the rest.

    Args:
        inputs: `(..., units)` with `units` divisible by `block_size`.
        block_size: Number of competing units per block (n in the paper; 2 in all its experiments).

    Returns:
        `(..., units)`, the winners' values with zeros elsewhere.

    Raises:
        ValueError: If the last dimension is not a multiple of `block_size` (the ir stage checks
            widths, so this means a layer was built with the wrong size).
    """
    units = inputs.shape[-1]
    if units % block_size != 0:
        raise ValueError(
            f"local winner-take-all needs a last dimension divisible by the block size "
            f"{block_size}, got {units}"
        )
    blocks = inputs.reshape(*inputs.shape[:-1], units // block_size, block_size)  # (..., b, n)
    # argmax returns the first maximal index, which is the paper's tie rule (lower index wins).
    winners = blocks.argmax(dim=-1)  # (..., b)
    mask = functional.one_hot(winners, block_size).to(inputs.dtype)  # (..., b, n)
    # A product with a constant mask: the gradient is the mask, so losers receive exactly 0.
    return (blocks * mask).reshape(inputs.shape)  # (..., units)


class LocalWinnerTakeAll(nn.Module):
    """Local winner-take-all on the last dimension, in training and evaluation alike.

    Args:
        block_size: Number of competing units per block.
    """

    def __init__(self, block_size: int) -> None:
        super().__init__()
        self.block_size = block_size

    def forward(self, inputs: Tensor) -> Tensor:
        """Applies the competition.

        Args:
            inputs: `(..., units)` with `units` divisible by `block_size`.

        Returns:
            `(..., units)`.
        """
        return local_winner_take_all(inputs, self.block_size)

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}"


class LWTALinear(nn.Module):
    """A linear layer of `blocks * block_size` units followed by local winner-take-all.

    The linear map is kept as the `linear` attribute so that initialisation, max-norm constraints
    and per-layer learning rates address it like any `torch.nn.Linear`.

    Args:
        in_features: Size of the last input dimension.
        blocks: Number of competing blocks.
        block_size: Units per block.
    """

    def __init__(self, in_features: int, blocks: int, block_size: int) -> None:
        super().__init__()
        self.blocks, self.block_size = blocks, block_size
        self.linear = nn.Linear(in_features, blocks * block_size)
        self.competition = LocalWinnerTakeAll(block_size)

    def forward(self, inputs: Tensor) -> Tensor:
        """Computes the linear units and lets each block's winner through.

        Args:
            inputs: `(..., in_features)`.

        Returns:
            `(..., blocks * block_size)`.
        """
        return self.competition(self.linear(inputs))  # (..., blocks * block_size)

    def extra_repr(self) -> str:
        return f"blocks={self.blocks}, block_size={self.block_size}"
