"""Data stage: the `markov_text` source, token sequences from a fixed random Markov source.

In: vocabulary size, Markov order, sequence length, example count, the Dirichlet concentration of
the next-token distributions and `source_seed` (named apart from the split seed `data.seed`).
Out: a `DataSignature` (shapes and kinds), `describe` with the source's entropy rate (so a
language model's perplexity floor, exp(entropy rate), is known before training; `nndsl show`
prints it) and, on `load`, int64 token sequences as inputs with the same sequences shifted by one
as targets.

The substitute for the top-down paper's language-model experiment: unlike real text,
the best achievable perplexity is known exactly, so "how far from the floor" is measurable.

The source: for every context of `order` previous tokens, a next-token distribution drawn from a
symmetric Dirichlet (small concentration → peaked distributions → low entropy). Sequences start
in the chain's stationary distribution, so every position has the same statistics. The entropy
rate needs the table and its stationary distribution, which imports numpy, so the signature
(which `nndsl validate` computes) leaves it out; the work is cached per parameter set.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nndsl.data.registry import DataArrays, DataSignature, data_source

# Bounds the transition table (contexts × vocabulary entries) so a typo cannot exhaust memory.
MAXIMUM_TABLE_ENTRIES = 20_000_000


class MarkovTextParams(BaseModel):
    """Keys of `data:` for `source: markov_text` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    vocabulary_size: int = Field(50, ge=2, le=100_000, description="distinct tokens")
    order: int = Field(1, ge=1, le=4, description="previous tokens the next one depends on")
    sequence_length: int = Field(
        64, ge=1, le=100_000, description="tokens per example (inputs and shifted targets)"
    )
    examples: int = Field(1000, ge=1, le=10_000_000, description="sequences to draw")
    concentration: float = Field(
        0.1, ge=0.01, le=1000.0,
        description="Dirichlet concentration of each next-token distribution; smaller is "
        "more predictable text",
    )
    source_seed: int = Field(
        0, description="seed of the source's table and of the sequences drawn from it"
    )

    @model_validator(mode="after")
    def _table_fits(self) -> MarkovTextParams:
        entries = self.vocabulary_size ** (self.order + 1)
        if entries > MAXIMUM_TABLE_ENTRIES:
            raise ValueError(
                f"vocabulary_size ** (order + 1) = {entries} table entries exceeds "
                f"{MAXIMUM_TABLE_ENTRIES}; lower vocabulary_size or order"
            )
        return self


@functools.lru_cache(maxsize=8)
def markov_source(
    vocabulary_size: int, order: int, concentration: float, seed: int
) -> tuple[Any, Any, float]:
    """The source's table, its stationary context distribution and its entropy rate.

    Returns:
        (table, stationary, entropy_rate): `table[context, token]` with contexts numbered as
        base-`vocabulary_size` numbers of the previous `order` tokens (oldest most significant),
        `stationary[context]`, and the entropy rate in nats per token.
    """
    import numpy as np

    contexts = vocabulary_size**order
    generator = np.random.default_rng(seed)
    table = generator.dirichlet(np.full(vocabulary_size, concentration), size=contexts)
    # Power iteration: moving one step drops the oldest token and appends the new one.
    stationary = np.full(contexts, 1.0 / contexts)
    rest = contexts // vocabulary_size
    for _ in range(100_000):
        joint = stationary.reshape(vocabulary_size, rest, 1) * table.reshape(
            vocabulary_size, rest, vocabulary_size
        )
        following = joint.sum(axis=0).reshape(contexts)
        converged = np.abs(following - stationary).sum() < 1e-13
        stationary = following
        if converged:
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        surprise = np.where(table > 0, -np.log(table), 0.0)
    entropy_rate = float(stationary @ (table * surprise).sum(axis=1))
    table.setflags(write=False)
    stationary.setflags(write=False)
    return table, stationary, entropy_rate


@data_source("markov_text")
class MarkovText:
    """Token sequences from a fixed random Markov source with a known entropy rate."""

    Params = MarkovTextParams
    doc = "token sequences from a random Markov source; perplexity floor known exactly"

    def signature(self, params: MarkovTextParams, base_directory: Path) -> DataSignature:
        """Token inputs of `sequence_length` and next-token targets (no numpy: validate runs it)."""
        return DataSignature(
            input_shape=(params.sequence_length,),
            input_kind="tokens",
            target_kind="next_token",
            num_classes=params.vocabulary_size,
            vocabulary_size=params.vocabulary_size,
            example_count=params.examples,
            description=(f"Markov text: {params.examples} sequences of {params.sequence_length} "
                         f"tokens, vocabulary {params.vocabulary_size}, order {params.order}"),
            target_shape=(params.sequence_length,),
        )

    def entropy_rate(self, params: MarkovTextParams) -> float:
        """The source's entropy rate in nats per token (perplexity floor: its exponential)."""
        return markov_source(params.vocabulary_size, params.order, params.concentration,
                             params.source_seed)[2]

    def describe(self, params: MarkovTextParams, base_directory: Path) -> str:
        """The signature's description with the entropy rate and the perplexity floor."""
        entropy_rate = self.entropy_rate(params)
        return (f"{self.signature(params, base_directory).description}; entropy {entropy_rate:.4f} "
                f"nats/token, perplexity floor {math.exp(entropy_rate):.3f}")

    def load(self, params: MarkovTextParams, base_directory: Path, seed: int) -> DataArrays:
        """Draw the sequences; `seed` is not used (the source has `source_seed`)."""
        import numpy as np

        vocabulary = params.vocabulary_size
        table, stationary, _ = markov_source(
            vocabulary, params.order, params.concentration, params.source_seed
        )
        # A separate stream from the table's, so changing `examples` keeps the source fixed.
        generator = np.random.default_rng([params.source_seed, 1])
        total = params.sequence_length + 1
        tokens = np.zeros((params.examples, total + params.order), dtype=np.int64)
        context = generator.choice(len(stationary), size=params.examples, p=stationary)
        # Write the starting context's tokens (its base-vocabulary digits, oldest first).
        for position in range(params.order):
            power = vocabulary ** (params.order - 1 - position)
            tokens[:, position] = (context // power) % vocabulary
        cumulative = np.cumsum(table, axis=1)
        for position in range(params.order, total + params.order):
            draws = generator.random(params.examples)[:, None]
            rows = cumulative[context]
            # Clipping guards against a cumulative sum that rounds to just under 1.
            following = np.minimum((rows < draws * rows[:, -1:]).sum(axis=1), vocabulary - 1)
            tokens[:, position] = following
            context = (context * vocabulary + following) % len(stationary)
        sequence = tokens[:, params.order:]
        return DataArrays(
            inputs=np.ascontiguousarray(sequence[:, :-1]),
            targets=np.ascontiguousarray(sequence[:, 1:]),
            class_names=tuple(f"t{index}" for index in range(vocabulary)),
        )
