"""One-Stage DTW decoding against known word sequences and grammars; word accuracy; the Gaussian
HMM baseline recovers its generating states."""

from __future__ import annotations

import numpy as np
import pytest

from nndsl.backend.gaussian_states import GaussianStates, with_deltas
from nndsl.backend.one_stage import one_stage_decode, word_accuracy

WORDS = [[0, 1], [2, 3, 4], [1, 0], [5]]  # state indices per word


def _distances(sentence: list[int], frames_per_state: int = 2, noise: float = 0.0, seed: int = 0):
    """Distance 0 to the true state of each frame, 1 to every other state (plus noise)."""
    states = [state for word in sentence for state in WORDS[word]]
    truth = np.repeat(states, frames_per_state)
    distances = np.ones((len(truth), 6))
    distances[np.arange(len(truth)), truth] = 0.0
    return distances + noise * np.random.default_rng(seed).random(distances.shape)


@pytest.mark.parametrize("sentence", [[0], [1, 3, 2], [3, 0, 1], [2, 1, 0]])
def test_decodes_the_sentence_whose_states_fit(sentence):
    # (sentences chosen without ties: word 3 held twice as long reads as one word 3, too)
    assert one_stage_decode(_distances(sentence, noise=0.3), WORDS) == sentence


def test_the_grammar_rules_out_transitions():
    distances = _distances([0, 1])
    assert one_stage_decode(distances, WORDS, successors=[[1], [0], [0], [0]]) == [0, 1]
    # word 1 may not follow word 0: the best allowed explanation is something else
    decoded = one_stage_decode(distances, WORDS, successors=[[2, 3], [0], [0], [0]])
    assert decoded != [0, 1]
    assert all(
        following in [[2, 3], [0], [0], [0]][word] for word, following in zip(decoded, decoded[1:])
    )


def test_word_accuracy_counts_substitutions_deletions_and_insertions():
    assert word_accuracy([[1, 2, 3]], [[1, 2, 3]]) == 1.0
    assert word_accuracy([[1, 5, 3]], [[1, 2, 3, 4]]) == pytest.approx(0.5)  # 1 sub + 1 del of 4
    assert word_accuracy([[1, 2, 2, 3]], [[1, 2, 3]]) == pytest.approx(2 / 3)  # 1 insertion


def test_gaussian_states_learn_their_means_by_viterbi_re_estimation():
    generator = np.random.default_rng(0)
    means = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    utterances, sequences = [], []
    for _ in range(20):
        durations = generator.integers(2, 9, size=3)  # uneven: a uniform split is wrong at first
        path = np.repeat([0, 1, 2], durations)
        utterances.append(means[path] + 0.3 * generator.standard_normal((len(path), 2)))
        sequences.append([0, 1, 2])
    model = GaussianStates(3, 2).fit(utterances, sequences)
    assert np.allclose(model.means, means, atol=0.15)
    assert model.distances(utterances[0]).shape == (len(utterances[0]), 3)
    assert with_deltas(utterances[0]).shape == (len(utterances[0]), 4)
