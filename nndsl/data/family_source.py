"""Data stage: the `family_relations` source, Hinton's (1986) family-relations task.

In: `test_count` (patterns held out as the source's own test set, 4 in Hinton's experiment) and
`holdout_seed` (which ones). Out: a `DataSignature` known without computing anything (104
patterns, 36 one-hot inputs, 24 multi-hot targets) and, on `load`, all 104 patterns as arrays
with the held-out rows marked as a fixed test set.

The patterns themselves come from `nndsl.data.family_relations` (the two trees and the derived
relations); this module only registers them as a data source. Because the source fixes its test
set, a spec using it leaves `test_fraction` at 0 (the splitter refuses both), and
`valid_fraction` is taken from the training patterns.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from nndsl.data.registry import DataArrays, DataSignature, data_source

# Fixed by the two trees: 24 people, 12 relations, 104 (person, relation) pairs with an answer.
PERSON_COUNT = 24
RELATION_COUNT = 12
PATTERN_COUNT = 104


class FamilyRelationsParams(BaseModel):
    """Keys of `data:` for `source: family_relations` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    test_count: int = Field(
        4, ge=0, le=PATTERN_COUNT - 1,
        description="patterns held out as the fixed test set (Hinton: 4 of 104); 0 leaves the "
        "test split to test_fraction",
    )
    holdout_seed: int = Field(0, description="seed choosing which patterns are held out")


@data_source("family_relations")
class FamilyRelations:
    """Hinton's two isomorphic family trees: (person, relation) → the related people."""

    Params = FamilyRelationsParams
    doc = "Hinton's family relations: 104 (person, relation) patterns, multi-hot answers"

    def signature(self, params: FamilyRelationsParams, base_directory: Path) -> DataSignature:
        """36 one-hot inputs (person, relation), 24 multi-hot targets; nothing is computed."""
        held_out = f"{params.test_count} held out as the test set" if params.test_count else (
            "no fixed test set"
        )
        return DataSignature(
            input_shape=(PERSON_COUNT + RELATION_COUNT,),
            input_kind="dense",
            target_kind="multilabel",
            num_classes=PERSON_COUNT,
            example_count=PATTERN_COUNT,
            description=f"family relations: {PATTERN_COUNT} patterns, {held_out}",
            target_shape=(PERSON_COUNT,),
            fixed_test_count=params.test_count or None,
        )

    def load(self, params: FamilyRelationsParams, base_directory: Path, seed: int) -> DataArrays:
        """All patterns, training rows first, then the `test_count` held-out rows."""
        import numpy as np

        from nndsl.data.family_relations import PEOPLE, RELATIONS, family_relations_arrays

        split = family_relations_arrays(
            test_count=params.test_count, seed=params.holdout_seed, dtype="float32"
        )
        inputs = np.concatenate([split.train_inputs, split.test_inputs])
        targets = np.concatenate([split.train_targets, split.test_targets])
        train_count = len(split.train_inputs)
        patterns = split.train_patterns + split.test_patterns
        return DataArrays(
            inputs=inputs,
            targets=targets,
            class_names=tuple(PEOPLE),
            feature_names=tuple(PEOPLE) + tuple(RELATIONS),
            example_ids=tuple(f"{pattern.person} {pattern.relation}" for pattern in patterns),
            test_indices=np.arange(train_count, len(inputs)) if params.test_count else None,
        )
