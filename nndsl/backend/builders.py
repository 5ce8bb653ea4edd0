"""Backend stage: torch modules for the layer types (called by the layer registry's `build`).

In: a layer's validated parameters and its input feature size. Out: an `nn.Module` whose
`forward(x)` maps a batch `[B, ...]` to `[B, ...]`. Modules over padded sequences also accept
`lengths` (`takes_lengths = True`), and modules that shorten the time axis map lengths with
`output_lengths(lengths)`; the graph module carries lengths between them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

from nndsl.backend.modules.lwta import LWTALinear
from nndsl.backend.modules.noise import GaussianDropout
from nndsl.backend.modules.variational_dropout import VariationalDropout, VariationalDropoutLinear
from nndsl.backend.modules.whitened import WhitenedLinear
from nndsl.backend.recurrent_layer import RecurrentLayer

ACTIVATIONS = {
    "linear": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid,
    "softplus": nn.Softplus,
    "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU,
    "softmax": lambda: nn.Softmax(dim=-1),
}


def build_activation(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def initialise(module: nn.Module, init: str, scale: float) -> None:
    """Apply a spec's weight initialisation to every weight matrix of `module` (biases to 0)."""
    if init == "default":
        return
    for name, parameter in module.named_parameters():
        with torch.no_grad():
            if name.endswith("bias"):
                if init == "uniform":
                    nn.init.uniform_(parameter, -scale, scale)
                else:
                    nn.init.zeros_(parameter)
            elif init == "uniform":
                nn.init.uniform_(parameter, -scale, scale)
            elif init == "normal":
                nn.init.normal_(parameter, 0.0, scale)
            elif init == "xavier":
                nn.init.xavier_uniform_(parameter)
            elif init == "orthogonal":
                nn.init.orthogonal_(parameter)


class Dense(nn.Sequential):
    """A linear map followed by its activation; `reset_parameters` re-applies the spec's init."""

    def __init__(self, linear: nn.Module, activation: str, init: str = "default",
                 init_scale: float = 0.1):
        super().__init__(linear, build_activation(activation))
        self.init, self.init_scale = init, init_scale
        initialise(self, init, init_scale)

    def reset_parameters(self) -> None:
        self[0].reset_parameters()
        initialise(self, self.init, self.init_scale)


def build_linear(params: Any, features: int) -> nn.Module:
    return Dense(nn.Linear(features, params.units, bias=params.bias), params.activation,
                 params.init, params.init_scale)


def build_lwta(params: Any, features: int) -> nn.Module:
    return LWTALinear(features, params.blocks, params.block_size)


def build_whitened_linear(params: Any, features: int) -> nn.Module:
    activation = None if params.activation == "linear" else build_activation(params.activation)
    return WhitenedLinear(features, params.units, activation=activation, epsilon=params.epsilon)


def build_variational_dropout(params: Any, features: int) -> nn.Module:
    if params.units is None:
        return VariationalDropout(features, params.initial_rate, params.granularity,
                                  params.max_alpha)
    linear = VariationalDropoutLinear(features, params.units, True, params.variant,
                                      params.granularity, params.initial_rate, params.max_alpha)
    return nn.Sequential(linear, build_activation(params.activation))


def build_embedding(params: Any) -> nn.Module:
    return nn.Embedding(params.vocabulary, params.dim)


def build_layer_norm(params: Any, features: int) -> nn.Module:
    return nn.LayerNorm(features, eps=params.epsilon)


class _BatchNormLastAxis(nn.Module):
    """Batch norm over the last axis of [B, ..., F] (torch's BatchNorm1d wants features second)."""

    def __init__(self, features: int, epsilon: float):
        super().__init__()
        self.norm = nn.BatchNorm1d(features, eps=epsilon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])  # [B*..., F]
        return self.norm(flat).reshape(x.shape)


def build_batch_norm(params: Any, shape: tuple) -> nn.Module:
    if len(shape) == 3:
        return nn.BatchNorm2d(int(shape[0]), eps=params.epsilon)
    return _BatchNormLastAxis(int(shape[-1]), params.epsilon)


def build_dropout(params: Any) -> nn.Module:
    return nn.Dropout(params.p)


def build_gaussian_dropout(params: Any) -> nn.Module:
    return GaussianDropout(params.p)


class _Window(nn.Sequential):
    """A convolution or pooling (and activation) that maps sequence lengths on its time axis."""

    def __init__(self, *modules: nn.Module, kernel: int, stride: int, padding: int):
        super().__init__(*modules)
        self.window = (kernel, stride, padding)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        kernel, stride, padding = self.window
        return torch.div(lengths + 2 * padding - kernel, stride, rounding_mode="floor") + 1


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def build_conv(params: Any, channels: int, dimensions: int, groups: int = 1) -> nn.Module:
    kernel = _pair(params.kernel) if dimensions == 2 else (params.kernel, params.kernel)
    stride = _pair(params.stride) if dimensions == 2 else (params.stride, params.stride)
    padding = (kernel[0] // 2, kernel[1] // 2) if params.padding == "same" else (
        _pair(params.padding) if dimensions == 2 else (params.padding, params.padding))
    if dimensions == 1:
        conv = nn.Conv1d(channels, params.channels, kernel[0], stride[0], padding[0], groups=groups)
    else:
        conv = nn.Conv2d(channels, params.channels, kernel, stride, padding, groups=groups)
    return _Window(conv, build_activation(params.activation), kernel=kernel[0], stride=stride[0],
                   padding=padding[0])


def build_maxpool(params: Any, dimensions: int) -> nn.Module:
    kernel = _pair(params.kernel)
    stride = _pair(params.stride if params.stride is not None else params.kernel)
    pool = nn.MaxPool1d(kernel[0], stride[0]) if dimensions == 1 else nn.MaxPool2d(kernel, stride)
    return _Window(pool, kernel=kernel[0], stride=stride[0], padding=0)


def build_flatten() -> nn.Module:
    return nn.Flatten()


class _AddChannel(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)  # [B, T, F] -> [B, 1, T, F]


def build_add_channel() -> nn.Module:
    return _AddChannel()


class _ToSequence(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, time, features = x.shape
        return x.permute(0, 2, 1, 3).reshape(batch, time, channels * features)  # [B, T, C*F]


def build_to_sequence() -> nn.Module:
    return _ToSequence()


def build_recurrent(kind: str, params: Any, features: int) -> nn.Module:
    return RecurrentLayer(kind, params, features)


class _Add(nn.Module):
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack(inputs).sum(0)


def build_add() -> nn.Module:
    return _Add()


class _Concat(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis if axis < 0 else axis + 1  # the spec's axes exclude the batch axis

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=self.axis)


def build_concat(axis: int) -> nn.Module:
    return _Concat(axis)


class _Slice(nn.Module):
    def __init__(self, start: int, stop: int):
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.start:self.stop]


def build_slice(start: int, stop: int) -> nn.Module:
    return _Slice(start, stop)


__all__ = ["functional"]
