"""Backend stage: word accuracy of a linked predictive network, as a torchmetrics metric.

In: a `dtw_prediction` network's output (every predictor's forecast of every frame,
`[B, T, N, F]`), the batch (frames, frame counts, reference words), and the data source's lexicon
(each word's phones) and grammar (the words allowed after each word). Out: 1 - word error rate
over every utterance seen since the last reset, the words decoded by One-Stage DTW
(`nndsl.backend.one_stage`) over the prediction errors, as benchmarks/lpnn.py computes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics.text import WordErrorRate

from nndsl.backend.one_stage import one_stage_decode


def word_text(words: Sequence[int]) -> str:
    """Word indices as a sentence of tokens (as `one_stage.word_accuracy` writes them)."""
    return " ".join(f"w{word}" for word in words)


class WordAccuracy(WordErrorRate):
    """torchmetrics' word error rate (errors and reference words summed over the epoch) on
    One-Stage DTW decodings; `compute` gives 1 - that rate (negative with many insertions).

    Args:
        lexicon: each word's label indices.
        grammar: the words allowed after each word.
        states_per_label: predictor states per label (the loss's `states_per_label`).
    """

    def __init__(self, lexicon: Sequence[Sequence[int]], grammar: Sequence[Sequence[int]],
                 states_per_label: int) -> None:
        super().__init__()
        # word models: each phone's states in order, linked through the word
        self.word_states = [[phone * states_per_label + offset for phone in word
                             for offset in range(states_per_label)] for word in lexicon]
        self.grammar = [tuple(following) for following in grammar]

    def update(self, output: torch.Tensor,  # type: ignore[override]
               batch: dict[str, torch.Tensor]) -> None:
        """Decode each utterance of the batch and count its word errors."""
        inputs, lengths = batch["inputs"], batch["input_lengths"]
        hypotheses, references = [], []
        with torch.no_grad():
            errors = (output.detach() - inputs[:, :, None, :]).norm(dim=-1)  # [B, T, N]
        for index in range(len(inputs)):
            local = errors[index, : int(lengths[index])].cpu().numpy()
            hypotheses.append(word_text(one_stage_decode(local, self.word_states, self.grammar)))
            words = batch["words"][index, : int(batch["word_lengths"][index])]
            references.append(word_text(words.tolist()))
        super().update(hypotheses, references)

    def compute(self) -> torch.Tensor:
        return 1.0 - super().compute()
