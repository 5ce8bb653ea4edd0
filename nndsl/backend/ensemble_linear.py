"""Backend stage: batched-matmul fast path for ensembles of Linear/elementwise Sequential members.

In: the stacked member (a copy of member 0 whose parameters carry a leading member dimension
[M, ...], see `VectorisedMembers`) and inputs [B, ..., F] or [M, B, ..., F]. Out: stacked outputs
[M, B, ..., F'] computed layer by layer with `torch.baddbmm`, skipping `torch.vmap` and
`functional_call` (per-call dispatch overhead, and batched layouts that make the elementwise
backward kernels slow). The generic vmap path stays the reference; both are tested to agree.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional

# Modules that act elementwise (or per element, like Dropout), so applying them to a stacked
# [M, B, ..., F] tensor is the same as applying them to each member's [B, ..., F] slice. Exact
# types only: a subclass may override forward.
ELEMENTWISE_MODULE_TYPES: frozenset[type[nn.Module]] = frozenset(
    {
        nn.Identity, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
        nn.Softplus, nn.Dropout,
    }
)


def linear_chain_obstacle(member: nn.Module) -> str | None:
    """Says why a member cannot take the batched-matmul path, or None when it can.

    Args:
        member: one ensemble member.

    Returns:
        A reason, or None when the member is an `nn.Sequential` of `nn.Linear` and elementwise
        modules.
    """
    if type(member) is not nn.Sequential:
        return f"member is a {type(member).__name__}, not an nn.Sequential"
    for name, layer in member.named_children():
        if type(layer) is not nn.Linear and type(layer) not in ELEMENTWISE_MODULE_TYPES:
            return f"layer '{name}' ({type(layer).__name__}) is neither Linear nor elementwise"
    if not any(type(layer) is nn.Linear for layer in member):
        return "member has no Linear layer"
    return None


def transposed_storage(stacked_weight: Tensor) -> Tensor:
    """Copies a stacked Linear weight [M, out, in] into storage laid out as [M, in, out].

    The shape (and so state_dict, checkpoints and `member()`) stays [M, out, in]; only the strides
    change. `baddbmm` consumes the weight transposed, so with this layout the operand is
    contiguous and the weight gradient arrives with the parameter's own strides, which autograd's
    gradient accumulation can take over without a copy.

    Args:
        stacked_weight: [M, out, in].

    Returns:
        A tensor equal to `stacked_weight`: shape [M, out, in], strides of a transposed
        [M, in, out].
    """
    return stacked_weight.transpose(1, 2).contiguous().transpose(1, 2)  # [M, out, in]


def run_linear_chain(stacked: nn.Sequential, inputs: Tensor, per_member: bool) -> Tensor:
    """Runs every member of a stacked Linear/elementwise chain with batched matrix products.

    Args:
        stacked: member 0's structure holding stacked parameters (weights [M, out, in], biases
            [M, out]).
        inputs: [B, ..., in] for all members, or [M, B, ..., in] when `per_member`.
        per_member: whether `inputs` carries the leading member dimension.

    Returns:
        Stacked outputs [M, B, ..., out].
    """
    members = _member_count(stacked)
    # Without a member dimension, broadcast one (stride 0: no copy).
    hidden = inputs if per_member else inputs.expand(members, *inputs.shape)  # [M, B, ..., F]
    example_shape = hidden.shape[1:-1]  # (B, ...)
    hidden = hidden.reshape(members, -1, hidden.shape[-1])  # [M, B * ..., F]
    previous_was_linear = False
    for layer in stacked:
        if type(layer) is nn.Linear:
            weight = layer.weight.transpose(1, 2)  # [M, in, out]
            if layer.bias is None:
                hidden = hidden.bmm(weight)  # [M, B * ..., out]
            else:
                hidden = layer.bias.unsqueeze(1).baddbmm(hidden, weight)  # [M, B * ..., out]
            previous_was_linear = True
            continue
        if type(layer) is nn.ReLU and previous_was_linear:
            # baddbmm's backward does not read its output, so ReLU may overwrite it: one
            # allocation and one pass over memory fewer per layer.
            hidden = functional.relu_(hidden)
        else:
            hidden = layer(hidden)
        previous_was_linear = False
    return hidden.reshape(members, *example_shape, hidden.shape[-1])  # [M, B, ..., out]


def _member_count(stacked: nn.Sequential) -> int:
    """M, read from the first stacked parameter."""
    return next(stacked.parameters()).shape[0]
