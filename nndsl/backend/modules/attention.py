"""Backend stage: multi-head attention with padding masks, and positional encodings.

In: batches `[B, T, D]` (queries) and, for cross-attention, `[B, S, E]` (keys and values), with
per-example lengths. Out: `[B, T, D]`. Attention runs through
`torch.nn.functional.scaled_dot_product_attention`; keys past an example's length are masked
out, so padding never changes the outputs at real positions (the outputs *at* padded query
positions are computed and ignored downstream, as for every other sequence layer).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional


class MultiHeadAttention(nn.Module):
    """Multi-head attention; self-attention when called with one input, cross-attention with two.

    Args:
        features: the query input's (and the output's) feature size D.
        key_features: the key/value input's feature size E (D for self-attention).
        heads: number of heads (D divisible by it; checked by the shape rule).
        dropout: dropout on the attention weights while training.
        causal: mask keys after each query position.
        bias: biases in the four projections.
    """

    takes_lengths = True
    takes_input_lengths = True  # `lengths` is one tensor (or None) per input

    def __init__(self, features: int, key_features: int, heads: int, dropout: float = 0.0,
                 causal: bool = False, bias: bool = True):
        super().__init__()
        self.heads, self.dropout, self.causal = heads, dropout, causal
        self.query = nn.Linear(features, features, bias=bias)
        self.key = nn.Linear(key_features, features, bias=bias)
        self.value = nn.Linear(key_features, features, bias=bias)
        self.output = nn.Linear(features, features, bias=bias)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor | None = None,
                lengths: list[torch.Tensor | None] | torch.Tensor | None = None) -> torch.Tensor:
        if keys is None:
            keys = queries
        key_lengths = lengths[-1] if isinstance(lengths, (list, tuple)) else lengths
        batch, steps, features = queries.shape
        split = (batch, -1, self.heads, features // self.heads)
        query = self.query(queries).view(split).transpose(1, 2)  # [B, H, T, D/H]
        key = self.key(keys).view(split).transpose(1, 2)  # [B, H, S, D/H]
        value = self.value(keys).view(split).transpose(1, 2)
        mask = self._mask(key_lengths, steps, keys.shape[1], queries.device)
        attended = functional.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
            is_causal=self.causal and mask is None)
        return self.output(attended.transpose(1, 2).reshape(batch, steps, features))

    def _mask(self, key_lengths: torch.Tensor | None, steps: int, key_steps: int,
              device: torch.device) -> torch.Tensor | None:
        """Boolean [B, 1, T, S] (True = attend), or None when every key is real and no causal
        mask must be combined with it (the kernels then take their fastest path)."""
        if key_lengths is None or bool((key_lengths >= key_steps).all()):
            return None
        positions = torch.arange(key_steps, device=device)
        real = positions[None, :] < key_lengths.to(device)[:, None]  # [B, S]
        mask = real[:, None, None, :]  # [B, 1, 1, S]
        if self.causal:
            causal = torch.ones(steps, key_steps, dtype=torch.bool, device=device).tril()
            mask = mask & causal
        return mask


class PositionalEncoding(nn.Module):
    """Adds a position code to `[B, T, D]`: fixed sinusoids (a buffer) or a learned table.

    Args:
        features: D (even for sinusoids).
        kind: "sinusoidal" or "learned".
        max_length: the longest sequence encodable (the table's rows).
        dropout: dropout applied to the sum while training.
    """

    def __init__(self, features: int, kind: str, max_length: int, dropout: float = 0.0):
        super().__init__()
        self.kind, self.max_length = kind, max_length
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_length, features) * 0.02)
        else:
            self.register_buffer("table", sinusoids(max_length, features), persistent=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        steps = inputs.shape[1]
        if steps <= self.max_length:
            table = self.table[:steps]
        elif self.kind == "sinusoidal":  # sines extend to any length
            table = sinusoids(steps, inputs.shape[2]).to(inputs.device)
        else:
            # The shape rule checks fixed lengths; a variable length is only known per batch.
            raise ValueError(f"a sequence of {steps} positions exceeds the learned positional "
                             f"encoding's max_length {self.max_length}; raise max_length")
        return self.dropout(inputs + table.to(inputs.dtype))

    def reset_parameters(self) -> None:
        if self.kind == "learned":
            with torch.no_grad():
                self.table.normal_(0.0, 0.02)


def sinusoids(length: int, features: int) -> torch.Tensor:
    """The sinusoidal table [length, features]: sin(p / 10000^(2i/D)) at 2i, cos at 2i+1."""
    positions = torch.arange(length, dtype=torch.float32)[:, None]
    exponents = torch.arange(0, features, 2, dtype=torch.float32) / features
    frequencies = torch.exp(exponents * -math.log(10000.0))
    table = torch.zeros(length, features)
    table[:, 0::2] = torch.sin(positions * frequencies)
    table[:, 1::2] = torch.cos(positions * frequencies)
    return table
