"""Backend stage: the LPNN paper's baseline, an HMM with one diagonal Gaussian per state, trained
by Viterbi re-estimation (segmental k-means) on transcribed utterances.

In: training utterances (frames `[T, F]` and their state sequences, the labels' states in order).
Out: a mean and variance per state, and the local distance -log N(x_t; μ_n, v_n) of every frame to
every state, which One-Stage DTW decodes with exactly as it does the LPNN's prediction errors.

Training: segment each utterance uniformly over its states, estimate each state's Gaussian from
the frames it owns, re-align every utterance by DTW under the current Gaussians (the same stay /
advance transitions as the LPNN, no transition probabilities: "no duration model"), repeat.
`with_deltas` appends delta features (x_t+1 - x_t-1) / 2 first, the paper's "with delta
coefficients" variant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from nndsl.backend.alignment import dtw_paths

VARIANCE_FLOOR = 1e-3


def with_deltas(frames: np.ndarray) -> np.ndarray:
    """`[T, F]` -> `[T, 2F]`: the frames and their central differences (edges repeated)."""
    padded = np.concatenate([frames[:1], frames, frames[-1:]])
    return np.concatenate([frames, (padded[2:] - padded[:-2]) / 2], axis=1)


class GaussianStates:
    """One diagonal Gaussian per state; `fit` by Viterbi re-estimation, `distances` for decoding."""

    def __init__(self, states: int, features: int) -> None:
        self.means = np.zeros((states, features))
        self.variances = np.ones((states, features))

    def distances(self, frames: np.ndarray) -> np.ndarray:
        """-log N(x_t; μ_n, v_n) for every frame and state, `[T, N]`."""
        squared = ((frames[:, None, :] - self.means[None]) ** 2 / self.variances[None]).sum(-1)
        constant = np.log(self.variances).sum(-1) + frames.shape[1] * math.log(2 * math.pi)
        return 0.5 * (squared + constant[None])

    def fit(self, utterances: Sequence[np.ndarray], state_sequences: Sequence[Sequence[int]],
            iterations: int = 5) -> GaussianStates:
        """Viterbi re-estimation from a uniform segmentation (see the module docstring)."""
        assignments = [(np.arange(len(frames)) * len(sequence)) // len(frames)
                       for frames, sequence in zip(utterances, state_sequences)]
        for iteration in range(iterations + 1):
            self._estimate(utterances, state_sequences, assignments)
            if iteration < iterations:
                assignments = self._align(utterances, state_sequences)
        return self

    def _estimate(self, utterances, state_sequences, assignments) -> None:
        frames = np.concatenate(utterances)
        owners = np.concatenate([np.asarray(sequence)[positions]
                                 for sequence, positions in zip(state_sequences, assignments)])
        for state in range(len(self.means)):
            mine = frames[owners == state]
            if len(mine):  # a state never seen in training keeps its previous Gaussian
                self.means[state] = mine.mean(0)
                self.variances[state] = np.maximum(mine.var(0), VARIANCE_FLOOR)

    def _align(self, utterances, state_sequences) -> list[np.ndarray]:
        positions = []
        for frames, sequence in zip(utterances, state_sequences):
            local = self.distances(frames)[:, list(sequence)]
            path = dtw_paths(torch.from_numpy(local)[None], torch.tensor([len(frames)]),
                             torch.tensor([len(sequence)]))[0].numpy()
            positions.append(np.maximum(path, 0))
        return positions
