"""Backend stage: a recurrent torch module run over padded sequences without packing, on CPU.

In: a single- or multi-layer `nn.LSTM` / `nn.GRU` / `nn.RNN` (batch first, either direction),
`[B, T, F]` input and per-example lengths. Out: `[B, T, H·directions]`, the same values as the
packed run (padded steps zeroed): each direction runs over the padded batch, the reverse one over
every sequence reversed within its own length, so padding only ever follows the valid steps and
never reaches a valid state.

Why: on CPU, backpropagating through packed sequences runs one small operation per time step
and batch size change, about ten times slower than the padded kernel (a BLSTM of 64 units over
190 frames: 0.5 s against 0.05 s per batch of 16). On GPUs cuDNN handles packing itself, so
the packed path stays there.
"""

from __future__ import annotations

import torch
from torch import _VF, nn
from torch.nn import functional



def reversal_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, T] indices that reverse each row's first `lengths` steps and keep the rest in place
    (its own inverse)."""
    time = torch.arange(steps, device=lengths.device).unsqueeze(0)
    last = (lengths.to(time.device).unsqueeze(1) - 1)
    return torch.where(time <= last, last - time, time)


def _direction(module: nn.RNNBase, layer: int, suffix: str, x: torch.Tensor) -> torch.Tensor:
    """One direction of one layer, as a unidirectional run from step 0: [B, T, H]."""
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if module.bias else [])
    if getattr(module, "proj_size", 0):
        names.append("weight_hr")
    weights = [getattr(module, f"{name}_l{layer}{suffix}") for name in names]
    size = module.proj_size if getattr(module, "proj_size", 0) else module.hidden_size
    state = x.new_zeros(1, x.shape[0], size)
    if module.mode == "LSTM":
        cell = x.new_zeros(1, x.shape[0], module.hidden_size)
        return _VF.lstm(x, (state, cell), weights, module.bias, 1, 0.0, module.training, False,
                        True)[0]
    if module.mode == "GRU":
        return _VF.gru(x, state, weights, module.bias, 1, 0.0, module.training, False, True)[0]
    kernel = _VF.rnn_tanh if module.mode == "RNN_TANH" else _VF.rnn_relu
    return kernel(x, state, weights, module.bias, 1, 0.0, module.training, False, True)[0]


def run_padded(module: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The module's output over padded `x` with `lengths`, as a packed run gives it."""
    lengths = lengths.clamp(min=1)
    index = reversal_index(lengths, x.shape[1]).unsqueeze(-1)  # [B, T, 1]
    valid = (torch.arange(x.shape[1], device=x.device).unsqueeze(0)
             < lengths.to(x.device).unsqueeze(1)).unsqueeze(-1)  # [B, T, 1]
    outputs = x
    for layer in range(module.num_layers):
        if layer and module.dropout:
            outputs = functional.dropout(outputs, module.dropout, module.training)
        forward = _direction(module, layer, "", outputs)
        if module.bidirectional:
            flipped = outputs.gather(1, index.expand(-1, -1, outputs.shape[-1]))
            backward = _direction(module, layer, "_reverse", flipped)
            backward = backward.gather(1, index.expand(-1, -1, backward.shape[-1]))
            forward = torch.cat([forward, backward], dim=-1)
        outputs = forward * valid
    return outputs
