"""Backend stage: ensemble training losses (independent, sMCL oracle) and prediction combiners.

In: per-member, per-example losses [M, B] or stacked member logits [M, B, C] with targets [B]
(or [M, B] for bagged batches). Out: scalar training losses, the winning member per example [B]
(for the class -> member specialisation report), combined predictions and oracle metrics.

Normalisation, used by every loss here: **sum over the members that receive gradient, mean over
the examples of the batch**. So each member's gradient from an example it wins is exactly the
gradient it would get training alone (Lee et al. 2016, eq. 2: the winner's gradient "is the same
as if training a single model"), whatever M and k, and `oracle_loss(losses, k=M)` equals
`independent_loss(losses)`, the classical ensemble of independently trained members.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional


def per_member_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy of every member on every example, unreduced.

    Args:
        logits: stacked member logits [M, B, C].
        targets: class indices [B] (same batch for all members) or [M, B] (one batch per member).

    Returns:
        Losses [M, B].
    """
    members, batch, _ = logits.shape
    member_targets = targets.expand(members, batch)  # [M, B]
    # The (N, C, d) form, classes on dim 1: torch's log-softmax over a short last dimension (10
    # classes) runs several times slower than over dim 1 with the examples innermost, and the
    # fast ensemble paths hand their logits over in that feature-major memory layout anyway.
    return functional.cross_entropy(logits.transpose(1, 2), member_targets, reduction="none")


def oracle_selection(per_member_losses: Tensor, k: int = 1) -> Tensor:
    """Marks the k lowest-loss members of every example.

    Ties are broken deterministically towards the lower member index (a stable sort), because
    `torch.topk` leaves the order of equal values unspecified.

    Args:
        per_member_losses: losses [M, B]; only their values are used (no gradient flows here).
        k: how many members per example receive gradient, 1 <= k <= M.

    Returns:
        Boolean mask [M, B], exactly k True entries per column.
    """
    return _mask(_best_members(per_member_losses, k), per_member_losses.shape[0])


def _best_members(per_member_losses: Tensor, k: int) -> Tensor:
    """The k lowest-loss members of every example, best first, ties by index [k, B]."""
    members = per_member_losses.shape[0]
    if not 1 <= k <= members:  # a caller's bug: the spec checker bounds k by the member count
        raise ValueError(f"k must lie in [1, {members}], got {k}")
    losses = per_member_losses.detach()  # [M, B]
    if k == 1:
        # argmin returns the first minimum: the same tie rule as the stable sort, but cheaper.
        return losses.argmin(dim=0, keepdim=True)  # [1, B]
    return torch.sort(losses, dim=0, stable=True).indices[:k]  # [k, B]


def _mask(best_members: Tensor, members: int) -> Tensor:
    """Boolean mask [M, B] that is True at each example's best members [k, B]."""
    selection = best_members.new_zeros((members, best_members.shape[1]), dtype=torch.bool)
    return selection.scatter_(0, best_members, True)  # [M, B]


def oracle_loss(per_member_losses: Tensor, k: int = 1) -> tuple[Tensor, Tensor]:
    """sMCL's oracle (winner-takes-gradient) loss, generalised to the k best members.

    k = 1 is stochastic multiple choice learning; k = M is the classical independent ensemble.
    Members outside an example's k best get exactly zero gradient from that example.

    Args:
        per_member_losses: losses [M, B] of every member on every example.
        k: how many lowest-loss members per example receive gradient, 1 <= k <= M.

    Returns:
        The scalar loss (sum over the k selected members, mean over examples) and the winning
        (lowest-loss, lowest index on ties) member of every example [B].
    """
    best_members = _best_members(per_member_losses, k)  # [k, B]
    selection = _mask(best_members, per_member_losses.shape[0])  # [M, B]
    # where() rather than multiplying by the mask: a non-selected member's inf or NaN loss must
    # not leak into the value, and its gradient is exactly zero either way.
    selected = torch.where(selection, per_member_losses, torch.zeros_like(per_member_losses))
    return selected.sum(dim=0).mean(), best_members[0]


def independent_loss(per_member_losses: Tensor) -> Tensor:
    """Classical ensemble loss: every member trains on every example (sum over members).

    Args:
        per_member_losses: losses [M, B].

    Returns:
        The scalar loss, equal to `oracle_loss(per_member_losses, k=M)[0]`.
    """
    return per_member_losses.sum(dim=0).mean()


def mean_probabilities(logits: Tensor) -> Tensor:
    """Combines members by averaging their class probabilities: logits [M, B, C] -> [B, C]."""
    return logits.softmax(dim=-1).mean(dim=0)  # [B, C]


def majority_vote(logits: Tensor) -> Tensor:
    """Combines members by majority vote of their predicted classes.

    Args:
        logits: stacked member logits [M, B, C].

    Returns:
        Voted class per example [B]; a tied vote goes to the lowest class index (argmax returns
        the first maximum).
    """
    classes = logits.shape[-1]
    votes = functional.one_hot(logits.argmax(dim=-1), classes).sum(dim=0)  # [B, C]
    return votes.argmax(dim=-1)  # [B]


def oracle_accuracy(logits: Tensor, targets: Tensor) -> Tensor:
    """Fraction of examples that at least one member classifies correctly (the oracle metric).

    Args:
        logits: stacked member logits [M, B, C].
        targets: class indices [B].

    Returns:
        Scalar accuracy in [0, 1].
    """
    correct = logits.argmax(dim=-1) == targets  # [M, B]
    return correct.any(dim=0).float().mean()


def oracle_error(logits: Tensor, targets: Tensor) -> Tensor:
    """Fraction of examples that every member misclassifies: 1 - `oracle_accuracy`."""
    return 1.0 - oracle_accuracy(logits, targets)


def assignment_counts(assignment: Tensor, targets: Tensor, members: int, classes: int) -> Tensor:
    """Counts how often each member wins the examples of each class (sMCL's specialisation).

    Args:
        assignment: winning member per example [B] (from `oracle_loss`).
        targets: class indices [B].
        members: M.
        classes: C.

    Returns:
        Counts [C, M]; row-normalise for the paper's class -> member percentages (Fig. 4c).
    """
    flat = targets * members + assignment  # [B], one cell index per (class, member)
    counts = torch.bincount(flat, minlength=classes * members)  # [C * M]
    return counts.view(classes, members)  # [C, M]
