"""Backend stage: recurrent layers (lstm, blstm, gru, rnn) over padded sequences.

In: `[B, T, F]` and per-example lengths. Out: `[B, T, H·directions]` with padded steps zeroed
(packed sequences, so padding never changes a state; on CPU the same values without packing,
see recurrent_padded.py), or the last valid step `[B, H·directions]`
for `output: last`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nndsl.backend.recurrent_padded import run_padded

_CELLS = {"lstm": nn.LSTM, "blstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentLayer(nn.Module):
    """torch.nn.LSTM / GRU / RNN with batch-first padded input and lengths."""

    takes_lengths = True

    def __init__(self, kind: str, params: Any, features: int):
        super().__init__()
        options: dict[str, Any] = dict(input_size=features, hidden_size=params.hidden,
                                       num_layers=params.layers,
                                       bidirectional=params.bidirectional, batch_first=True,
                                       dropout=params.dropout if params.layers > 1 else 0.0)
        if kind in ("lstm", "blstm") and getattr(params, "projection", None):
            options["proj_size"] = params.projection
        if kind == "rnn":
            options["nonlinearity"] = params.nonlinearity
        self.recurrent = _CELLS[kind](**options)
        self.output = params.output
        self.kind, self.features, self.params = kind, features, params
        self.recomputed = False

    def use_recompute(self, schedule: Any) -> None:
        """Run under a planned recompute schedule (memory budget) instead of cuDNN-style BPTT.

        The executor's cells hold the same parameters as the single-layer torch module it
        replaces (weight_ih, weight_hh, bias_ih, bias_hh per direction).
        """
        from nndsl.backend.recompute.layer import RecomputedRecurrent

        cell = "lstm" if self.kind in ("lstm", "blstm") else self.kind
        self.recurrent = RecomputedRecurrent(cell, self.features, self.params.hidden, schedule,
                                             bidirectional=self.params.bidirectional)
        self.recomputed = True

    def reset_parameters(self) -> None:
        self.recurrent.reset_parameters()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.recomputed:
            outputs, _ = self.recurrent(x, lengths)  # [B, T, H*D], padded steps zero
            if self.output == "last":
                last = (lengths.clamp(min=1) - 1) if lengths is not None else torch.full(
                    (x.shape[0],), x.shape[1] - 1, device=x.device)
                rows = torch.arange(outputs.shape[0], device=outputs.device)
                return outputs[rows, last.to(outputs.device)]
            return outputs
        if lengths is None:
            outputs, _ = self.recurrent(x)  # [B, T, H*D]
            return outputs[:, -1] if self.output == "last" else outputs
        if x.device.type == "cpu":
            outputs = run_padded(self.recurrent, x, lengths)  # [B, T, H*D]
        else:
            packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True,
                                          enforce_sorted=False)
            outputs, _ = self.recurrent(packed)
            # [B, T, H*D]
            outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
        if self.output == "last":
            last = (lengths.clamp(min=1) - 1).to(outputs.device)
            return outputs[torch.arange(outputs.shape[0], device=outputs.device), last]
        return outputs
