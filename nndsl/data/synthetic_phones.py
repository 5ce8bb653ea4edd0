"""Data stage: the `synthetic_phones` source, a generated continuous-speech corpus for linked
predictive neural networks (Tebelskis et al.'s task, on generated phones).

In: the generator's parameters (phones, words, sentences, words per sentence, frames per phone,
noise, a seed). Out: a `DataSignature` computed from the parameters alone and, on `load`,
zero-padded float32 "mel" frames `[N, T_max, 16]` with their frame counts, and each sentence's
phone sequence as padded labels with lengths (label_sequence targets, labels 0..phones-1, no
blank), and with them the lexicon, the grammar and each sentence's words, which word decoding
and the `word_accuracy` metric need (also `corpus(params)`, for benchmarks/lpnn.py).

What it is: each phone is a smooth trajectory through `feature_dim` (16) features: a cosine
glide from a start vector through a middle vector to an end vector, all drawn once, stretched
to the phone's duration (`min_frames`..`max_frames` per phone). Frames carry AR(1) noise
(coefficient `noise_correlation`, 0.8, innovations of deviation `noise`), which is smooth in
time like a spectrum's slow fluctuations: a predictor reading the previous frames can forecast
most of it, a Gaussian per state cannot (its variance is the noise's whole variance). Words are
random strings of 2-4 phones; the grammar lets each word be followed by `successors` other
words (perplexity about that number); sentences are random walks through the grammar of
`min_words`..`max_words` words.

What it is not: speech. There is no coarticulation (a phone's trajectory does not depend on its
neighbours), no speaker variation and no silence model; phone durations are uniform. Word
accuracies on it say how the LPNN, the hidden-control LPNN and Gaussian HMMs compare on
smooth-trajectory data, not what they reach on the CMU conference-registration task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nndsl.data.registry import DataArrays, DataSignature, data_source


class SyntheticPhonesParams(BaseModel):
    """Keys of `data:` for `source: synthetic_phones` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    phones: int = Field(10, ge=2, le=200, description="phones (labels)")
    words: int = Field(20, ge=2, le=10_000, description="words in the lexicon")
    min_phones_per_word: int = Field(2, ge=1, le=20, description="shortest word, in phones")
    max_phones_per_word: int = Field(4, ge=1, le=20, description="longest word, in phones")
    successors: int = Field(4, ge=1, le=10_000,
                            description="words the grammar allows after each word")
    sentences: int = Field(300, ge=1, le=100_000, description="sentences to generate")
    min_words: int = Field(2, ge=1, le=50, description="fewest words in a sentence")
    max_words: int = Field(4, ge=1, le=50, description="most words in a sentence")
    feature_dim: int = Field(16, ge=1, le=1000, description="features (mel coefficients) per frame")
    min_frames: int = Field(6, ge=1, le=1000, description="shortest phone, in frames")
    max_frames: int = Field(10, ge=1, le=1000, description="longest phone, in frames")
    noise: float = Field(0.8, ge=0, description="deviation of the AR(1) noise's innovations")
    noise_correlation: float = Field(0.8, ge=0, lt=1, description="AR(1) coefficient of the noise "
                                     "(how much of it the previous frames forecast)")
    generator_seed: int = Field(0, description="seed of the phones, lexicon, grammar and sentences")

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> SyntheticPhonesParams:
        for low, high in (("min_phones_per_word", "max_phones_per_word"),
                          ("min_words", "max_words"), ("min_frames", "max_frames")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")
        if self.successors > self.words:
            raise ValueError("successors must not exceed words")
        return self


def corpus(params: SyntheticPhonesParams) -> dict[str, Any]:
    """The whole corpus: lexicon (phones per word), grammar (successors per word), and per
    sentence its words, phones and frames (numpy arrays)."""
    import numpy as np

    generator = np.random.default_rng(params.generator_seed)
    shape = (params.phones, 3, params.feature_dim)
    anchors = generator.standard_normal(shape)  # start, middle, end of each phone's glide
    lexicon: list[tuple[int, ...]] = []
    while len(lexicon) < params.words:  # distinct words: decoding could not tell twins apart
        length = int(generator.integers(params.min_phones_per_word, params.max_phones_per_word + 1))
        word = tuple(int(phone) for phone in generator.integers(0, params.phones, size=length))
        if word not in lexicon:
            lexicon.append(word)
    grammar = [tuple(sorted(int(word) for word in generator.choice(params.words, params.successors,
                                                                     replace=False)))
               for _ in range(params.words)]
    sentences = []
    for _ in range(params.sentences):
        count = int(generator.integers(params.min_words, params.max_words + 1))
        words = [int(generator.integers(params.words))]
        while len(words) < count:
            words.append(int(generator.choice(grammar[words[-1]])))
        phones = [phone for word in words for phone in lexicon[word]]
        sentences.append({"words": words, "phones": phones,
                          "frames": _render(generator, anchors, phones, params)})
    return {"lexicon": lexicon, "grammar": grammar, "sentences": sentences}


def _render(generator, anchors, phones: list[int], params: SyntheticPhonesParams):
    """A sentence's frames: each phone's glide at its random duration, plus AR(1) noise."""
    import numpy as np

    pieces = []
    for phone in phones:
        duration = int(generator.integers(params.min_frames, params.max_frames + 1))
        position = np.linspace(0.0, 2.0, duration)  # 0 start, 1 middle, 2 end
        segment = np.minimum(position.astype(int), 1)  # glide start -> middle, then middle -> end
        blend = ((1 - np.cos(np.pi * (position - segment))) / 2)[:, None]
        source, target = anchors[phone, segment], anchors[phone, segment + 1]
        pieces.append(source + (target - source) * blend)
    clean = np.concatenate(pieces)
    noise = np.empty_like(clean)
    previous = np.zeros(params.feature_dim)
    for step in range(len(clean)):
        innovation = params.noise * generator.standard_normal(params.feature_dim)
        previous = params.noise_correlation * previous + innovation
        noise[step] = previous
    return clean + noise


@data_source("synthetic_phones")
class SyntheticPhones:
    """Generated continuous "speech": phone trajectories, words of phones, a small grammar."""

    Params = SyntheticPhonesParams
    doc = "generated continuous speech: smooth phone trajectories, words, a grammar (synthetic)"

    def signature(self, params: SyntheticPhonesParams, base_directory: Path) -> DataSignature:
        """("T", feature_dim) frame sequences; each sentence's phones are its label sequence."""
        description = (
            f"synthetic phones: {params.sentences} sentences of "
            f"{params.min_words}-{params.max_words} words from {params.words} words of "
            f"{params.min_phones_per_word}-{params.max_phones_per_word} of {params.phones} phones "
            f"({params.successors} successors per word), {params.min_frames}-{params.max_frames} "
            f"frames per phone, {params.feature_dim} features, AR({params.noise_correlation:g}) "
            f"noise {params.noise:g} (seed {params.generator_seed})"
        )
        return DataSignature(input_shape=("T", params.feature_dim), input_kind="sequence",
                             target_kind="label_sequence", num_classes=params.phones,
                             example_count=params.sentences, description=description,
                             target_shape=("L",), word_lexicon=True)

    def load(self, params: SyntheticPhonesParams, base_directory: Path, seed: int) -> DataArrays:
        """Generate the corpus; `seed` is not used (the generator has `generator_seed`)."""
        import numpy as np

        generated = corpus(params)
        sentences = generated["sentences"]
        lengths = np.array([len(sentence["frames"]) for sentence in sentences], dtype=np.int64)
        label_lengths = np.array([len(sentence["phones"]) for sentence in sentences],
                                 dtype=np.int64)
        inputs = np.zeros((len(sentences), int(lengths.max()), params.feature_dim),
                          dtype=np.float32)
        targets = np.zeros((len(sentences), int(label_lengths.max())), dtype=np.int64)
        word_lengths = np.array([len(sentence["words"]) for sentence in sentences], dtype=np.int64)
        words = np.zeros((len(sentences), int(word_lengths.max())), dtype=np.int64)
        for index, sentence in enumerate(sentences):
            inputs[index, : lengths[index]] = sentence["frames"]
            targets[index, : label_lengths[index]] = sentence["phones"]
            words[index, : word_lengths[index]] = sentence["words"]
        return DataArrays(inputs=inputs, targets=targets, input_lengths=lengths,
                          target_lengths=label_lengths, words=words, word_lengths=word_lengths,
                          lexicon=tuple(generated["lexicon"]), grammar=tuple(generated["grammar"]),
                          class_names=tuple(f"ph{index}" for index in range(params.phones)))
