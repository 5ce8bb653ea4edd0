"""Backend stage: DTW alignment of frames to a sequence of states, and the LPNN training loss.

In: local distances `[B, T, K]` between every frame and each utterance's K states (in order),
frame counts and state counts. Out: the best monotonic path, one state per frame. The path starts
in the first state at the first frame, ends in the last state at the last frame, and from one
frame to the next either stays in its state or advances by one (the transitions of Tebelskis et
al.'s LPNN training, D(s,t) = d(s,t) + min(D(s,t-1), D(s-1,t-1))).

`dtw_prediction_loss`: the LPNN's loss. Every predictor forecasts every frame; the distance of a
frame to a state is the Euclidean prediction error of the state's predictor; the path is found
without gradients, and the loss is ½‖x̂ - x‖² summed along it, so the error x̂ - x flows back only
into the predictor that owns each path point.
"""

from __future__ import annotations

import torch

INFINITY = float("inf")


@torch.no_grad()
def dtw_paths(distances: torch.Tensor, lengths: torch.Tensor,
              state_counts: torch.Tensor) -> torch.Tensor:
    """The best path's state per frame, `[B, T]` (-1 past an utterance's end or without a path).

    Args:
        distances: `[B, T, K]` local distances (entries past an utterance's states are ignored).
        lengths: `[B]` frames per utterance.
        state_counts: `[B]` states per utterance (a path needs at least as many frames).
    """
    batch, steps, states = distances.shape
    state_index = torch.arange(states, device=distances.device)
    distances = distances.masked_fill(state_index >= state_counts[:, None, None], INFINITY)
    total = torch.full((batch, states), INFINITY, dtype=distances.dtype, device=distances.device)
    total[:, 0] = distances[:, 0, 0]
    advanced = torch.zeros(batch, steps, states, dtype=torch.bool, device=distances.device)
    blocked = torch.full((batch, 1), INFINITY, dtype=distances.dtype, device=distances.device)
    for step in range(1, steps):
        from_previous = torch.cat([blocked, total[:, :-1]], dim=1)
        came = from_previous < total
        candidate = torch.where(came, from_previous, total) + distances[:, step]
        inside = (step < lengths)[:, None]
        total = torch.where(inside, candidate, total)
        advanced[:, step] = came & inside
    paths = torch.full((batch, steps), -1, dtype=torch.long)
    advanced, lengths, state_counts = advanced.cpu(), lengths.cpu(), state_counts.cpu()
    finals = total[torch.arange(batch), (state_counts - 1).clamp(min=0).to(total.device)].cpu()
    for row in range(batch):
        if not torch.isfinite(finals[row]) or int(lengths[row]) < int(state_counts[row]):
            continue  # too few frames for the states: no path, no loss
        state = int(state_counts[row]) - 1
        moves = advanced[row].tolist()
        for step in range(int(lengths[row]) - 1, -1, -1):
            paths[row, step] = state
            if step and moves[step][state]:
                state -= 1
    return paths.to(distances.device)


def utterance_states(labels: torch.Tensor, label_lengths: torch.Tensor, states_per_label: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each utterance's predictor indices in order, `[B, L * S]`, and their counts `[B]`: label l
    owns predictors l*S .. l*S + S - 1 (its states, left to right)."""
    offsets = torch.arange(states_per_label, device=labels.device)
    states = (labels.long()[:, :, None] * states_per_label + offsets).reshape(labels.shape[0], -1)
    return states, label_lengths.long() * states_per_label


def dtw_prediction_loss(predictions: torch.Tensor, frames: torch.Tensor, lengths: torch.Tensor,
                        labels: torch.Tensor, label_lengths: torch.Tensor, states_per_label: int,
                        reduction: str = "mean") -> torch.Tensor:
    """The LPNN loss (module docstring): ½‖x̂ - x‖² along each utterance's best DTW path.

    Args:
        predictions: `[B, T, N, F]` every predictor's forecast of every frame.
        frames: `[B, T, F]` the frames themselves.
        lengths: `[B]` frames per utterance; labels `[B, L]` and label_lengths `[B]` its labels.
        states_per_label: predictors per label.
        reduction: "mean" over the aligned frames, or "sum".
    """
    states, state_counts = utterance_states(labels, label_lengths, states_per_label)
    index = states[:, None, :, None].expand(-1, predictions.shape[1], -1, predictions.shape[-1])
    chosen = torch.gather(predictions, 2, index)  # [B, T, K, F]: each utterance's states in order
    errors = chosen - frames[:, :, None, :]
    paths = dtw_paths(errors.detach().norm(dim=-1), lengths.to(predictions.device), state_counts)
    aligned = paths >= 0
    on_path = torch.gather(errors, 2, paths.clamp(min=0)[:, :, None, None].expand(
        -1, -1, 1, errors.shape[-1])).squeeze(2)  # [B, T, F]
    squared = 0.5 * (on_path ** 2).sum(-1) * aligned
    total = squared.sum()
    if reduction == "sum":
        return total
    return total / aligned.sum().clamp(min=1)
