"""Backend stage: grouped-convolution fast path for ensembles of small convolutional members.

In: the stacked member's chain of modules (a copy of member 0 whose parameters carry a leading
member dimension [M, ...], see `VectorisedMembers` and `ensemble.chain`) and images [B, C, H, W]
shared by all members or [M, B, C, H, W] per member. Out: stacked outputs [M, B, F].

The members' feature maps travel side by side as the channels of one image, [B, M * C, H, W]:
each member's convolution becomes one group of a single grouped convolution (the first layer,
reading one shared image, is a plain convolution with M times the output channels), pooling and
elementwise modules act per channel as they would per member, and after `Flatten` the members'
features are split off again, [M, B, F], for the Linear layers (batched matrix products). One
call per layer instead of M (a loop) or a vmapped call with its per-operator batching (vmap);
the sums each member computes are the same. Tested to agree with the vmap path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from nndsl.backend.ensemble.linear import ELEMENTWISE_MODULE_TYPES, member_count

#: Modules acting on each channel of an image separately: pooling, and the elementwise ones.
_PER_CHANNEL = frozenset({nn.MaxPool2d, nn.AvgPool2d, *ELEMENTWISE_MODULE_TYPES})


def convolution_chain_obstacle(layers: list[nn.Module] | None) -> str | None:
    """Why a member cannot take the grouped-convolution path, or None when it can: a chain
    (`ensemble.chain.chain_layers`; None when the member is none) of 2-d convolutions (zero
    padding) and per-channel modules, one `Flatten()`, then Linear and elementwise modules."""
    if layers is None:
        return "member is not a plain chain of layers"
    flattens = [index for index, layer in enumerate(layers) if type(layer) is nn.Flatten]
    if len(flattens) != 1 or (
            layers[flattens[0]].start_dim, layers[flattens[0]].end_dim) != (1, -1):
        return "member has no single Flatten() between its convolutions and its Linear layers"
    split = flattens[0]
    if not any(type(layer) is nn.Conv2d for layer in layers[:split]):
        return "member has no Conv2d layer"
    for layer in layers[:split]:
        if type(layer) is nn.Conv2d:
            if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                return "a Conv2d pads other than with explicit zeros"
        elif type(layer) not in _PER_CHANNEL:
            return f"{type(layer).__name__} before Flatten is neither Conv2d nor per channel"
    for layer in layers[split + 1:]:
        if type(layer) is not nn.Linear and type(layer) not in ELEMENTWISE_MODULE_TYPES:
            return f"{type(layer).__name__} after Flatten is neither Linear nor elementwise"
    return None


def run_convolution_chain(layers: list[nn.Module], inputs: Tensor, per_member: bool) -> Tensor:
    """Runs every member of a stacked convolutional chain (see the module docstring).

    Args:
        layers: the chain of the stacked member (member 0's structure holding stacked parameters:
            convolution weights [M, out, in / groups, kh, kw], biases [M, out], Linear weights
            [M, out, in]).
        inputs: [B, C, H, W] for all members, or [M, B, C, H, W] when `per_member`.
        per_member: whether `inputs` carries the leading member dimension.

    Returns:
        Stacked outputs [M, B, F].
    """
    members = member_count(layers)
    shared = not per_member
    if per_member:  # [M, B, C, H, W] -> the members' channels side by side, [B, M * C, H, W]
        hidden = inputs.transpose(0, 1).reshape(inputs.shape[1], -1, *inputs.shape[3:])
    else:
        hidden = inputs
    # Channels-last memory: torch's CPU kernels for grouped convolutions on small images run
    # their backward pass markedly faster in it (measured 16.6 -> 12.3 ms for M = 8 members of
    # a 3x3 8 -> 16 convolution on 8x8 images); values are the same, only the layout differs.
    hidden = hidden.contiguous(memory_format=torch.channels_last)
    previous_was_convolution = False
    for index, layer in enumerate(layers):
        if type(layer) is nn.Conv2d:
            weight = layer.weight.reshape(-1, *layer.weight.shape[2:])  # [M * out, in / g, kh, kw]
            bias = None if layer.bias is None else layer.bias.reshape(-1)  # [M * out]
            # A shared image is read by every member alike: one convolution with M times the
            # outputs. Afterwards each member's channels form `groups` groups of their own.
            groups = layer.groups * (1 if shared else members)
            hidden = functional.conv2d(hidden, weight, bias, layer.stride, layer.padding,
                                       layer.dilation, groups)  # [B, M * out, H', W']
            shared, previous_was_convolution = False, True
        elif type(layer) is nn.Flatten:
            if shared:  # no convolution read the image yet: every member sees it alike
                hidden = hidden.unsqueeze(1).expand(-1, members, *hidden.shape[1:])
            batch = hidden.shape[0]
            hidden = hidden.reshape(batch, members, -1).transpose(0, 1)  # [M, B, F]
            return _run_dense(layers[index + 1:], hidden)
        elif type(layer) is nn.ReLU and previous_was_convolution:
            # A convolution's backward does not read its output: ReLU may overwrite it.
            hidden = functional.relu_(hidden)
            previous_was_convolution = False
        else:
            hidden = layer(hidden)
            previous_was_convolution = False
    raise AssertionError("convolution_chain_obstacle admits only chains with a Flatten")


def _run_dense(layers: list[nn.Module], hidden: Tensor) -> Tensor:
    """Linear (batched products) and elementwise layers on [M, B, F]."""
    for layer in layers:
        if type(layer) is nn.Linear:
            weight = layer.weight.transpose(1, 2)  # [M, in, out]
            if layer.bias is None:
                hidden = hidden.bmm(weight)
            else:
                hidden = layer.bias.unsqueeze(1).baddbmm(hidden, weight)  # [M, B, out]
        else:
            hidden = layer(hidden)
    return hidden
