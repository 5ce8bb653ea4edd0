"""Backend stage: One-Stage DTW (Ney 1984) continuous word recognition, and word accuracy.

In: one utterance's local distances `[T, N]` (frame t against predictor or state n: an LPNN's
prediction error, a Gaussian's negative log density), word models as sequences of state indices
(each word's phones' states, linked), and a grammar (the words allowed after each word; any word
may begin or end a sentence). Out: the word sequence of the cheapest path.

The search is one dynamic programme over every state of every word at once. Within a word a
path stays in its state or advances by one (as in training); from a word's last state it may
enter the first state of any word the grammar allows next. Each cell keeps a pointer to the
word history that led into its word, so the best sentence is read back from the final cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def one_stage_decode(distances: np.ndarray, words: Sequence[Sequence[int]],
                     successors: Sequence[Sequence[int]] | None = None) -> list[int]:
    """The word sequence (indices into `words`) of the best path through `distances` [T, N].

    Args:
        distances: local distances, frames by states.
        words: each word's state indices in order.
        successors: the words allowed after each word; None allows every word after every word.
    """
    steps = distances.shape[0]
    sizes = np.array([len(word) for word in words])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ends = starts + sizes - 1
    states = np.concatenate([np.asarray(word, dtype=np.int64) for word in words])
    word_of = np.repeat(np.arange(len(words)), sizes)
    first = np.zeros(len(states), dtype=bool)
    first[starts] = True
    allowed = np.ones((len(words), len(words)), dtype=bool)  # allowed[previous, next]
    if successors is not None:
        allowed[:] = False
        for previous, following in enumerate(successors):
            allowed[previous, list(following)] = True
    # histories: (word, previous history) per completed word; -1 is the empty history
    histories: list[tuple[int, int]] = []
    cost = np.where(first, distances[0, states], np.inf)
    history = np.full(len(states), -1, dtype=np.int64)
    for step in range(1, steps):
        end_costs = cost[ends]
        # the best predecessor word for every next word: min over allowed previous words
        entering = np.where(allowed, end_costs[:, None], np.inf)
        previous = entering.argmin(axis=0)
        entry_cost = entering[previous, np.arange(len(words))]
        advance = np.concatenate([[np.inf], cost[:-1]])
        advance[first] = np.inf  # no advancing across a word boundary but through the grammar
        stay_or_advance = np.minimum(cost, advance)
        from_history = np.where(advance < cost, np.concatenate([[-1], history[:-1]]), history)
        entry_here = np.full(len(states), np.inf)
        entry_here[starts] = entry_cost
        enters = entry_here < stay_or_advance
        new_history = from_history.copy()
        for state in np.flatnonzero(enters):
            word = int(previous[word_of[state]])
            histories.append((word, int(history[ends[word]])))
            new_history[state] = len(histories) - 1
        cost = np.minimum(stay_or_advance, entry_here) + distances[step, states]
        history = new_history
    last = int(np.argmin(cost[ends]))
    sentence = [last]
    pointer = int(history[ends[last]])
    while pointer >= 0:
        word, pointer = histories[pointer]
        sentence.append(word)
    return sentence[::-1]


def word_accuracy(hypotheses: Sequence[Sequence[int]],
                  references: Sequence[Sequence[int]]) -> float:
    """1 - word error rate (substitutions, deletions and insertions over reference words), by
    torchmetrics' word error rate on the word indices written as tokens; may be negative."""
    from torchmetrics.functional.text import word_error_rate

    def text(words: Sequence[int]) -> str:
        return " ".join(f"w{word}" for word in words)

    error = word_error_rate([text(words) for words in hypotheses],
                            [text(words) for words in references])
    return 1.0 - float(error)
