"""Backend stage: run M ensemble members of one architecture as a single vectorised module.

In: M freshly built member modules with identical structure (same module types, same
hyper-parameters, same parameter and buffer shapes). Out: `VectorisedMembers`, an `nn.Module` whose
parameters are the members' parameters stacked on a leading member dimension [M, ...], registered
as real `nn.Parameter`s (so optimisers, `state_dict` and Lightning checkpoints see them), and whose
forward maps inputs to stacked outputs [M, B, ...] with `torch.func.functional_call` under
`torch.vmap` (or, for Linear/elementwise chains, batched matrix products:
`nndsl.backend.ensemble.linear`).
`vectorisation_obstacle` says why a set of members cannot be vectorised at all.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state

from nndsl.backend.ensemble.chain import chain_layers
from nndsl.backend.ensemble.convolution import convolution_chain_obstacle, run_convolution_chain
from nndsl.backend.ensemble.linear import linear_chain_obstacle, run_linear_chain

# Module types whose kernels have no vmap batching rule (aten::lstm and friends), so vmapping them
# fails at the first forward; they are recognised before training instead.
UNVECTORISABLE_MODULE_TYPES: tuple[type[nn.Module], ...] = (nn.RNNBase,)


def _structure(member: nn.Module) -> list[tuple[str, str, str]]:
    """Describes a member's module tree: name, type and hyper-parameters of every submodule."""
    return [
        (name, type(module).__qualname__, module.extra_repr())
        for name, module in member.named_modules()
    ]


def _tensor_layout(member: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype, bool]]:
    """Lists name, shape, dtype and requires_grad of every parameter, then of every buffer."""
    parameters = [
        (name, tuple(parameter.shape), parameter.dtype, parameter.requires_grad)
        for name, parameter in member.named_parameters()
    ]
    buffers = [
        (name, tuple(buffer.shape), buffer.dtype, False) for name, buffer in member.named_buffers()
    ]
    return parameters + buffers


def vectorisation_obstacle(members: Sequence[nn.Module]) -> str | None:
    """Says why these members cannot run as one vectorised module, or None when they can.

    Args:
        members: the freshly built ensemble members.

    Returns:
        A human-readable reason naming the first offending member or module, or None.
    """
    first = members[0]
    if len(list(first.named_parameters(remove_duplicate=False))) != len(list(first.parameters())):
        # One stacked tensor per name cannot express two names sharing one parameter.
        return "member ties one parameter to several names (shared weights)"
    for name, module in first.named_modules():
        if isinstance(module, UNVECTORISABLE_MODULE_TYPES):
            kind = type(module).__name__
            return f"module '{name or '<root>'}' ({kind}) has no vmap batching rule"
    first_structure, first_layout = _structure(first), _tensor_layout(first)
    for index, member in enumerate(members[1:], start=1):
        if _tensor_layout(member) != first_layout:
            return f"member {index} has different parameter or buffer shapes from member 0"
        if _structure(member) != first_structure:
            # Same shapes but e.g. another activation or dropout rate: member 0's forward code
            # would silently run in its place.
            return f"member {index} has a different module structure from member 0"
    return None


def _assign(owner_root: nn.Module, name: str, value: Tensor, is_parameter: bool) -> None:
    """Replaces the parameter or buffer called `name` (dotted path) inside `owner_root`."""
    owner_path, _, leaf = name.rpartition(".")
    owner = owner_root.get_submodule(owner_path)
    if is_parameter:
        setattr(owner, leaf, value)
    else:
        # Keeping the buffer's persistence means state_dict holds exactly what a member's would.
        persistent = leaf not in owner._non_persistent_buffers_set
        owner.register_buffer(leaf, value, persistent=persistent)


class VectorisedMembers(nn.Module):
    """M members of one architecture held as stacked parameters and run in one go.

    The submodule `stacked` mirrors a member's module tree (so state_dict keys read
    `stacked.<member name>`) but every parameter and buffer in it carries a leading member dimension
    [M, ...]. Members that are chains (`ensemble.chain`: the graph modules `nndsl train` builds, or
    `nn.Sequential`s) of Linear and elementwise modules run through batched matrix products
    (`nndsl.backend.ensemble.linear`, path "batched-matmul"), chains of 2-d convolutions, pooling
    and then Linear layers through grouped convolutions (path "grouped-conv"); all others
    run member 0's forward code under `torch.vmap` with each member's slice swapped in (path
    "vmap").

    Attributes:
        members: the number of members M.
        path: "batched-matmul", "grouped-conv" (`ensemble.convolution`) or "vmap".

    Args:
        members: freshly built members with identical structure (see `vectorisation_obstacle`).
        batched_matmul: False keeps Linear and convolutional chains on the generic vmap path.
    """

    def __init__(self, members: Sequence[nn.Module], batched_matmul: bool = True) -> None:
        super().__init__()
        self.members = len(members)
        self.path = "vmap"
        chain = chain_layers(members[0])
        if batched_matmul and linear_chain_obstacle(chain) is None:
            self.path = "batched-matmul"
        elif batched_matmul and convolution_chain_obstacle(chain) is None:
            self.path = "grouped-conv"
        parameters, buffers = stack_module_state(list(members))
        # The template lends its forward code to functional_call; every tensor it reads is swapped
        # for a member's slice, so it lives on the meta device and is kept out of the module tree
        # (no meta tensors in parameters(), state_dict or .to()).
        object.__setattr__(self, "_template", copy.deepcopy(members[0]).to("meta"))
        self.stacked = copy.deepcopy(self._template)
        for name, value in parameters.items():
            requires_grad = members[0].get_parameter(name).requires_grad
            _assign(self.stacked, name, nn.Parameter(value.detach(), requires_grad), True)
        for name, value in buffers.items():
            _assign(self.stacked, name, value, False)
        # The fast paths run the stacked member's modules in order; the list refers to modules of
        # `stacked` itself, so deepcopy (memo) and .to() (tensors swapped inside) keep it valid.
        self._chain = chain_layers(self.stacked) if self.path != "vmap" else None

    def _call_member(
        self, parameters: dict[str, Tensor], buffers: dict[str, Tensor], inputs: Tensor
    ) -> Tensor:
        """Runs the template with one member's parameters (called per member by vmap)."""
        return functional_call(self._template, (parameters, buffers), (inputs,))

    def train(self, mode: bool = True) -> VectorisedMembers:
        """Sets training mode here and on the unregistered template, whose forward actually runs."""
        self._template.train(mode)
        return super().train(mode)

    def forward(self, inputs: Tensor, per_member: bool = False) -> Tensor:
        """Runs every member.

        Args:
            inputs: one input batch [B, ...] for all members, or per-member batches [M, B, ...].
            per_member: whether `inputs` carries a leading member dimension.

        Returns:
            Stacked member outputs [M, B, ...].
        """
        if self._template.training != self.training:
            # Lightning restores modes after validation by setting `training` on each registered
            # module, never calling train(): the unregistered template would stay in eval mode
            # (dropout off for the rest of the run) and a resumed run would differ.
            self._template.train(self.training)
        if self.path == "batched-matmul":
            return run_linear_chain(self._chain, inputs, per_member)  # [M, B, ...]
        if self.path == "grouped-conv":
            return run_convolution_chain(self._chain, inputs, per_member)  # [M, B, F]
        parameters = dict(self.stacked.named_parameters())  # name -> [M, ...]
        buffers = dict(self.stacked.named_buffers())  # name -> [M, ...]
        # Wrapping per call costs microseconds and keeps deepcopy/pickle of the module sound (a
        # wrapper stored on the instance would stay bound to the original after a deepcopy).
        vectorised_call = torch.vmap(
            self._call_member, in_dims=(0, 0, 0 if per_member else None),
            randomness="different",  # each member draws its own dropout mask
        )
        return vectorised_call(parameters, buffers, inputs)

    def member(self, index: int) -> nn.Module:
        """Returns member `index` as a plain, independent module (a copy, for reporting/export)."""
        plain = copy.deepcopy(self._template)
        # Assigning clones (rather than copying into the template's tensors) carries over the
        # device and dtype the ensemble was moved to.
        for name, parameter in self.stacked.named_parameters():
            value = parameter.detach()[index].clone()
            _assign(plain, name, nn.Parameter(value, parameter.requires_grad), True)
        for name, buffer in self.stacked.named_buffers():
            _assign(plain, name, buffer[index].clone(), False)
        return plain.train(self.training)

    def member_state_dict(self, index: int) -> dict[str, Tensor]:
        """Returns member `index`'s state_dict (keys as a plain member's), detached copies."""
        return {
            name: value[index].detach().clone()
            for name, value in self.stacked.state_dict().items()
        }

    def parameters_by_member_name(self) -> dict[str, list[nn.Parameter]]:
        """Maps each member-local parameter name to the one stacked parameter that holds it."""
        return {name: [parameter] for name, parameter in self.stacked.named_parameters()}
