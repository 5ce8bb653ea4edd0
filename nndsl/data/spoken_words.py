"""Data stage: the `spoken_words` source, a built-in corpus of words spoken by espeak-ng, for CTC.

In: a vocabulary, training and held-out voices (espeak-ng voice variants such as `en+m3`),
ranges of speaking rate, pitch and gain, a condition (clean, or noisy at chosen SNRs), a label
kind (characters or phones) and a seed. Out: a `DataSignature` from the parameters alone and, on
`load`, padded float32 40-dim log-mel filter banks (25 ms windows, 10 ms frames) with frame
counts, and padded int64 label sequences with their lengths (0 is the CTC blank). The last
`test_utterances` rows are spoken by the held-out voices only and are the fixed test set.

What it is: real acoustics (a formant synthesiser's audio, resampled and featurised like recorded
speech) with variation of voice, rate, pitch, level and noise, so generalisation to unseen voices
can be measured. What it is not: human speech; espeak-ng's voices are variants of one synthesiser,
so the held-out voices are easier than held-out human speakers, and its word sequences are uniform.

The corpus is generated once (with a progress bar) into `cache_dir`, by default
`$XDG_CACHE_HOME/nndsl` or `~/.cache/nndsl`, as one file named by a digest of everything that
determines its content; a later load with the same parameters reads that file. Validation only
checks that espeak-ng is installed (E475 with how to install it otherwise) and never generates.
"""

from __future__ import annotations

import hashlib
import os
import random
import zipfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nndsl.data.registry import DataArrays, DataSignature, DataSourceError, data_source

BLANK_NAME = "<blank>"
SPACE_NAME = "<space>"
FORMAT_VERSION = 1  # part of the cache digest: bump when generation changes
DEFAULT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
DEFAULT_VOICES = tuple(f"en+{name}" for name in (
    "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "klatt", "klatt2", "Andy", "Annie",
    "adam", "boris", "caleb"))
DEFAULT_TEST_VOICES = tuple(f"en+{name}" for name in ("m7", "f4", "f5", "linda", "john", "klatt3"))


class SpokenWordsParams(BaseModel):
    """Keys of `data:` for `source: spoken_words` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    utterances: int = Field(2000, ge=1, le=200_000, description="utterances by the training "
                            "voices (training and validation sets)")
    test_utterances: int = Field(300, ge=0, le=100_000, description="utterances by the held-out "
                                 "voices: the fixed test set")
    words: tuple[str, ...] = Field(DEFAULT_WORDS, min_length=1, description="the vocabulary "
                                   "(lower-case ASCII words)")
    min_words: int = Field(1, ge=1, description="fewest words in an utterance")
    max_words: int = Field(3, ge=1, le=50, description="most words in an utterance")
    voices: tuple[str, ...] = Field(DEFAULT_VOICES, min_length=1, description="espeak-ng voices "
                                    "speaking the training and validation utterances")
    test_voices: tuple[str, ...] = Field(DEFAULT_TEST_VOICES, description="held-out espeak-ng "
                                         "voices speaking the test utterances only")
    rate: tuple[int, int] = Field((130, 210), description="speaking rate range, words per minute")
    pitch: tuple[int, int] = Field((25, 75), description="pitch range, espeak-ng's 0-99 scale")
    gain_db: tuple[float, float] = Field((-6.0, 6.0), description="level range in dB")
    condition: Literal["clean", "noisy"] = Field("clean", description="clean audio, or white "
                                                  "noise added at one of `snr_db` per utterance")
    snr_db: tuple[float, ...] = Field((20.0, 10.0, 5.0), min_length=1, description="SNRs in dB "
                                      "drawn from for the noisy condition")
    normalise: bool = Field(True, description="scale every feature to zero mean and unit "
                            "variance over the training voices' frames (global CMVN)")
    labels: Literal["characters", "phones"] = Field("characters", description="CTC labels: "
                                                    "letters and <space>, or espeak-ng phones (in "
                                                    "the first voice's language)")
    generator_seed: int = Field(0, description="seed of the utterance plan and the noise")
    synthesiser: str = Field("espeak-ng", min_length=1, description="the espeak-ng executable: "
                             "a name looked up on PATH, or a path")
    cache_dir: str | None = Field(None, description="folder of the generated corpus; default "
                                  "$XDG_CACHE_HOME/nndsl or ~/.cache/nndsl")

    @model_validator(mode="after")
    def _consistent(self) -> SpokenWordsParams:
        for low, high, label in ((self.min_words, self.max_words, "min_words"),
                                 (*self.rate, "rate"), (*self.pitch, "pitch"),
                                 (*self.gain_db, "gain_db")):
            if low > high:
                raise ValueError(f"{label}: the low end exceeds the high end")
        if not (80 <= self.rate[0] and self.rate[1] <= 450):
            raise ValueError("rate must lie within 80-450 words per minute")
        if not (0 <= self.pitch[0] and self.pitch[1] <= 99):
            raise ValueError("pitch must lie within espeak-ng's 0-99")
        for word in self.words:
            if not (word.isascii() and word.isalpha() and word.islower()):
                raise ValueError(f"word {word!r} is not lower-case ASCII letters")
        if set(self.voices) & set(self.test_voices):
            raise ValueError("a voice is in both `voices` and `test_voices`: the test voices "
                             "must be held out")
        if self.test_utterances and not self.test_voices:
            raise ValueError("test_utterances needs at least one of `test_voices`")
        if self.condition == "clean" and "snr_db" in self.model_fields_set:
            raise ValueError("snr_db is only used with `condition: noisy`")
        return self


def phone_language(params: SpokenWordsParams) -> str:
    """The language whose phones transcribe the words: that of the first training voice."""
    return params.voices[0].partition("+")[0]


def label_vocabulary(params: SpokenWordsParams) -> tuple[str, ...]:
    """The label names, index 0 the blank: sorted letters and <space>, or sorted phones."""
    if params.labels == "characters":
        letters = {letter for word in params.words for letter in word}
        return (BLANK_NAME, SPACE_NAME, *sorted(letters))
    from nndsl.data.spoken_synthesis import phonemes

    table = phonemes(params.words, params.synthesiser, phone_language(params))
    return (BLANK_NAME, SPACE_NAME, *sorted({phone for row in table.values() for phone in row}))


def utterance_plan(params: SpokenWordsParams) -> list[dict[str, Any]]:
    """One row per utterance (text, voice, rate, pitch, gain, SNR), training voices first."""
    chooser = random.Random(f"spoken_words/{params.generator_seed}")
    plan = []
    for count, voices in ((params.utterances, params.voices),
                          (params.test_utterances, params.test_voices)):
        for _ in range(count):
            length = chooser.randint(params.min_words, params.max_words)
            plan.append({
                "text": " ".join(chooser.choice(params.words) for _ in range(length)),
                "voice": chooser.choice(voices),
                "rate": chooser.randint(*params.rate),
                "pitch": chooser.randint(*params.pitch),
                "gain_db": round(chooser.uniform(*params.gain_db), 3),
                "snr_db": chooser.choice(params.snr_db) if params.condition == "noisy" else None,
            })
    return plan


def cache_file(params: SpokenWordsParams, base_directory: Path) -> Path:
    """Where the corpus for these parameters is (or will be) stored."""
    import json  # here: validation never names the file, and json is not otherwise loaded

    # Only what changes the audio and features names the file; labels are derived at load.
    unused = {"cache_dir", "labels", "normalise", "synthesiser"}
    content = params.model_dump(exclude=unused, mode="json")
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, content], sort_keys=True).encode())
    if params.cache_dir is not None:
        folder = base_directory / Path(params.cache_dir).expanduser()
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nndsl"
    return folder / f"spoken_words-{digest.hexdigest()[:16]}.npz"


@data_source("spoken_words")
class SpokenWords:
    """Words from a fixed vocabulary spoken by espeak-ng voices, as log-mel frames, for CTC."""

    Params = SpokenWordsParams
    doc = "built-in spoken corpus: words spoken by espeak-ng voices, 40 log-mel, CTC transcripts"

    def signature(self, params: SpokenWordsParams, base_directory: Path) -> DataSignature:
        """("T", 40) sequences and label sequences; needs espeak-ng on PATH (E475 otherwise)."""
        from nndsl.data.spoken_synthesis import check_voices

        check_voices(params.voices, "voices", params.synthesiser)
        check_voices(params.test_voices, "test_voices", params.synthesiser)
        total = params.utterances + params.test_utterances
        noise = ("clean" if params.condition == "clean"
                 else f"noisy, SNR {'/'.join(f'{value:g}' for value in params.snr_db)} dB")
        description = (
            f"spoken words (espeak-ng): {total} utterances of {params.min_words}-"
            f"{params.max_words} words from {len(params.words)}, {len(params.voices)} voices "
            f"+ {len(params.test_voices)} held out for the {params.test_utterances} test "
            f"utterances, {noise}, 40 log-mel / 10 ms, {params.labels} "
            f"(seed {params.generator_seed})")
        return DataSignature(
            input_shape=("T", 40), input_kind="sequence", target_kind="label_sequence",
            num_classes=len(label_vocabulary(params)), example_count=total,
            description=description, target_shape=("L",),
            fixed_test_count=params.test_utterances or None)

    def describe(self, params: SpokenWordsParams, base_directory: Path) -> str:
        """The signature's line, with the hours of audio once generated, or where it will be."""
        line = self.signature(params, base_directory).description
        target = cache_file(params, base_directory)
        if not target.is_file():
            return f"{line}; not generated yet (first training writes {target})"
        import numpy as np

        try:
            with np.load(target) as stored:
                hours = float(stored["durations"].sum()) / 3600.0
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return f"{line}; the cache {target} is damaged (delete it to generate it again)"
        return f"{line}; {hours:.2f} h of audio in {target}"

    def load(self, params: SpokenWordsParams, base_directory: Path, seed: int) -> DataArrays:
        """The corpus from its cache file, generated first if absent; `seed` is not used (the
        corpus has `generator_seed`)."""
        import numpy as np

        from nndsl.data.spoken_synthesis import generate, phonemes

        plan = utterance_plan(params)
        target = cache_file(params, base_directory)
        if not target.is_file():
            generate(plan, params.generator_seed, target, params.synthesiser)
        try:
            with np.load(target) as stored:
                frames, lengths = stored["frames"], stored["lengths"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise DataSourceError(f"the spoken corpus cache {target} cannot be read ({error})",
                                  "cache_dir", "delete that file to generate it again") from None
        if len(lengths) != len(plan) or int(lengths.sum()) != len(frames):
            raise DataSourceError(f"the spoken corpus cache {target} does not hold this corpus",
                                  "cache_dir", "delete that file to generate it again")
        if params.normalise:
            # Statistics of the training voices only: the held-out voices stay unseen.
            seen = frames[: int(lengths[: params.utterances].sum())]
            frames = (frames - seen.mean(axis=0)) / (seen.std(axis=0) + 1e-5)
        names = label_vocabulary(params)
        index = {name: number for number, name in enumerate(names)}
        phone_table = (phonemes(params.words, params.synthesiser, phone_language(params))
                       if params.labels == "phones" else None)
        label_rows = []
        for row in plan:
            symbols: list[str] = []
            for position, word in enumerate(row["text"].split()):
                if position:
                    symbols.append(SPACE_NAME)
                symbols.extend(phone_table[word] if phone_table else word)
            label_rows.append([index[symbol] for symbol in symbols])
        inputs = np.zeros((len(plan), int(lengths.max()), 40), dtype=np.float32)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for number, (start, length) in enumerate(zip(starts, lengths)):
            inputs[number, :length] = frames[start:start + length]
        target_lengths = np.array([len(row) for row in label_rows], dtype=np.int64)
        targets = np.zeros((len(plan), int(target_lengths.max())), dtype=np.int64)
        for number, row in enumerate(label_rows):
            targets[number, :len(row)] = row
        return DataArrays(
            inputs=inputs, targets=targets, input_lengths=lengths.astype(np.int64),
            target_lengths=target_lengths, class_names=names,
            example_ids=tuple(f"{number:06d}-{row['voice']}" for number, row in enumerate(plan)),
            test_indices=(np.arange(params.utterances, len(plan))
                          if params.test_utterances else None))
