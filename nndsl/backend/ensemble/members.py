"""Backend stage: an ensemble of M members, vectorised when possible, optionally on a shared trunk.

In: a member factory (member index -> freshly initialised member; the caller seeds each member),
the member count and an optional shared module (the feature extractor below a cut). Out:
`Ensemble`, an `nn.Module` whose forward maps inputs [B, ...] (same batch for all members) or
[M, B, ...] (one batch per member, e.g. bagging) to stacked member outputs [M, B, ...]. Members of
one architecture run as a single vmapped module (`VectorisedMembers`); otherwise they run in a
Python loop over an `nn.ModuleList` and `fallback_reason` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from nndsl.backend.ensemble.vectorised import VectorisedMembers, vectorisation_obstacle


class LoopMembers(nn.Module):
    """M members held as an `nn.ModuleList` and run one after the other.

    Args:
        members: the member modules; their outputs must share one shape so they can be stacked.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = len(members)
        self.path = "loop"
        self.member_modules = nn.ModuleList(members)

    def forward(self, inputs: Tensor, per_member: bool = False) -> Tensor:
        """Runs every member; inputs [B, ...] or [M, B, ...] (per_member); returns [M, B, ...]."""
        outputs = [
            member(inputs[index] if per_member else inputs)  # [B, ...]
            for index, member in enumerate(self.member_modules)
        ]
        return torch.stack(outputs)  # [M, B, ...]

    def member(self, index: int) -> nn.Module:
        """Returns member `index` itself (it already is a plain module)."""
        return self.member_modules[index]

    def member_state_dict(self, index: int) -> dict[str, Tensor]:
        """Returns member `index`'s state_dict as detached copies."""
        return {
            name: value.detach().clone()
            for name, value in self.member_modules[index].state_dict().items()
        }

    def parameters_by_member_name(self) -> dict[str, list[nn.Parameter]]:
        """Maps each member-local parameter name to that parameter in every member that has it."""
        grouped: dict[str, list[nn.Parameter]] = {}
        for member in self.member_modules:
            for name, parameter in member.named_parameters():
                grouped.setdefault(name, []).append(parameter)
        return grouped


class Ensemble(nn.Module):
    """M ensemble members built from a factory, run together, outputs stacked [M, B, ...].

    Attributes:
        members: the number of members M.
        shared: the trunk run once before the members (None when members see the inputs).
        heads: the members, as `VectorisedMembers` or `LoopMembers`.
        vectorised: whether `heads` runs the members as one vectorised module.
        path: "batched-matmul" (Linear/elementwise chains), "vmap" (any other vectorisable
            members) or "loop".
        fallback_reason: why the loop was used instead (None when vectorised).

    Args:
        member_factory: member index -> freshly initialised member (seeded by the caller).
        members: the number of members M (at least 1).
        shared: optional module run once on the inputs; its output feeds every member (one feature
            extractor below a cut, M classifier heads above it).
        vectorise: False forces the loop (for comparison and benchmarks).
        batched_matmul: False keeps Linear/elementwise chains on the generic vmap path.
        example_inputs: optional inputs to the members (the shared trunk's output when there is
            one), [B, ...]; when given, one vectorised forward and backward is tried at
            construction so that a module without vmap support falls back here, with the error as
            reason, instead of failing in the first training step.
    """

    def __init__(
        self,
        member_factory: Callable[[int], nn.Module],
        members: int,
        shared: nn.Module | None = None,
        vectorise: bool = True,
        batched_matmul: bool = True,
        example_inputs: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.members = members
        self.shared = shared
        built = [member_factory(index) for index in range(members)]
        reason = vectorisation_obstacle(built) if vectorise else "vectorisation disabled by caller"
        if reason is None and example_inputs is not None:
            reason = _vectorised_trial_failure(built, example_inputs, batched_matmul)
        self.fallback_reason: str | None = reason
        self.vectorised = reason is None
        self.heads: VectorisedMembers | LoopMembers = (
            VectorisedMembers(built, batched_matmul) if self.vectorised else LoopMembers(built)
        )
        self.path = self.heads.path

    def forward(self, inputs: Tensor, per_member: bool = False) -> Tensor:
        """Runs the shared trunk (if any) once, then every member.

        Args:
            inputs: one batch [B, ...] for all members, or one batch per member [M, B, ...].
            per_member: whether `inputs` carries the leading member dimension; explicit because a
                batch size equal to M would make the shape ambiguous.

        Returns:
            Stacked member outputs [M, B, ...].
        """
        features = inputs
        if self.shared is not None:
            if per_member:
                # One trunk call over all members' examples, then split back per member.
                flat = self.shared(inputs.flatten(0, 1))  # [M * B, ...]
                features = flat.unflatten(0, inputs.shape[:2])  # [M, B, ...]
            else:
                features = self.shared(inputs)  # [B, ...]
        return self.heads(features, per_member=per_member)  # [M, B, ...]

    def member(self, index: int) -> nn.Module:
        """Returns member `index` as a plain module (without the shared trunk), for reporting."""
        return self.heads.member(index)

    def member_state_dict(self, index: int) -> dict[str, Tensor]:
        """Returns member `index`'s state_dict, keyed as a plain member built by the factory."""
        return self.heads.member_state_dict(index)

    def parameters_by_member_name(self) -> dict[str, list[nn.Parameter]]:
        """Maps each member-local parameter name to the tensors holding it (for parameter groups).

        One stacked parameter [M, ...] per name when vectorised, M parameters when looped.
        """
        return self.heads.parameters_by_member_name()


def _vectorised_trial_failure(
    members: Sequence[nn.Module], example_inputs: Tensor, batched_matmul: bool
) -> str | None:
    """Tries one vectorised forward and backward on copies; returns the error text, or None."""
    # Stacking copies the members' tensors, so the trial leaves the members themselves untouched.
    trial = VectorisedMembers(members, batched_matmul)
    try:
        outputs = trial(example_inputs)
        if outputs.requires_grad:  # members with every parameter frozen have nothing to train
            outputs.float().sum().backward()
    except RuntimeError as error:  # vmap reports missing batching rules as RuntimeError
        return f"vectorised trial run failed: {error}"
    return None
