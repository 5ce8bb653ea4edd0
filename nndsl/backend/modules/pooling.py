"""Backend stage: average pooling, global pooling over padded sequences, RMS norm, transposed
convolution (the modules behind `nndsl.layers.pooling` and `nndsl.layers.convolution_transposed`).

In: batches `[B, C, ...]` (maps) or `[B, T, F]` (sequences) with per-example lengths. Out: the
pooled, normalised or upsampled batch; windows over time map the lengths like the shape rules.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nndsl.backend.builders import _pair, _Window, build_activation


def build_avgpool(params: Any, dimensions: int) -> nn.Module:
    kernel = _pair(params.kernel)
    stride = _pair(params.stride if params.stride is not None else params.kernel)
    pool = nn.AvgPool1d(kernel[0], stride[0]) if dimensions == 1 else nn.AvgPool2d(kernel, stride)
    return _Window(pool, kernel=kernel[0], stride=stride[0], padding=0)


class GlobalPool(nn.Module):
    """Mean or max over `axes` of the batch; over a time axis, only each example's first
    `lengths[b]` positions count (padding is excluded, not averaged in)."""

    takes_lengths = True

    def __init__(self, reduce: str, axes: tuple[int, ...]):
        super().__init__()
        self.reduce, self.axes = reduce, axes

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        unpadded = lengths is None or bool((lengths >= inputs.shape[self.axes[0]]).all())
        if unpadded or len(self.axes) != 1:
            if self.reduce == "max":
                return inputs.amax(dim=self.axes)
            return inputs.mean(dim=self.axes)
        axis = self.axes[0]
        steps = inputs.shape[axis]
        shape = [1] * inputs.dim()
        shape[0], shape[axis] = inputs.shape[0], steps
        positions = torch.arange(steps, device=inputs.device)
        real = (positions[None, :] < lengths.to(inputs.device)[:, None]).reshape(shape)
        if self.reduce == "max":
            return inputs.masked_fill(~real, float("-inf")).amax(dim=axis)
        counts = lengths.to(inputs.device, inputs.dtype).clamp(min=1)
        counts = counts.reshape(-1, *([1] * (inputs.dim() - 2)))
        return (inputs * real).sum(dim=axis) / counts

    def output_lengths(self, lengths: torch.Tensor) -> None:
        return None  # no time axis remains


def build_rms_norm(features: int, epsilon: float) -> nn.Module:
    return nn.RMSNorm(features, eps=epsilon)


class _TransposedWindow(nn.Sequential):
    """A transposed convolution (and activation) that lengthens the time axis as its shape rule."""

    def __init__(self, *modules: nn.Module, kernel: int, stride: int, padding: int,
                 output_padding: int):
        super().__init__(*modules)
        self.window = (kernel, stride, padding, output_padding)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        kernel, stride, padding, output_padding = self.window
        return (lengths - 1) * stride - 2 * padding + kernel + output_padding


def build_conv_transpose(params: Any, channels: int, groups: int, dimensions: int) -> nn.Module:
    kernel, stride = _pair(params.kernel), _pair(params.stride)
    padding, output_padding = _pair(params.padding), _pair(params.output_padding)
    if dimensions == 1:
        conv: nn.Module = nn.ConvTranspose1d(channels, params.channels, kernel[0], stride[0],
                                             padding[0], output_padding[0], groups=groups)
    else:
        conv = nn.ConvTranspose2d(channels, params.channels, kernel, stride, padding,
                                  output_padding, groups=groups)
    return _TransposedWindow(conv, build_activation(params.activation), kernel=kernel[0],
                             stride=stride[0], padding=padding[0], output_padding=output_padding[0])
