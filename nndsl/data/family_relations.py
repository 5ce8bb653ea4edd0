"""Data stage: Hinton's (1986) family-relations task, generated from the two family trees.

In: nothing (the trees are fixed). Out: the 104 (person1, relation) → {person2} patterns as
frozen records, and on request NumPy arrays (one-hot person and relation inputs, multi-hot person
targets) split into training and held-out patterns by a fixed seed.

The two trees are isomorphic, English and Italian, 12 people each. Every relation is derived from
three primitive facts (marriages, children, sex) so the patterns cannot drift from the trees:
uncles and aunts include in-laws (a parent's sister's husband is an uncle), and nephews and nieces
include a spouse's siblings' children. This gives 104 patterns and 112 (person1, relation,
person2) triples; the 8 patterns with two answers are each grandchild's uncles and aunts.

NumPy is imported inside `family_relations_arrays` only, so describing the data stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (husband, wife, children) per couple; person order inside a tree is the input code order.
ENGLISH_COUPLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Christopher", "Penelope", ("Arthur", "Victoria")),
    ("Andrew", "Christine", ("James", "Jennifer")),
    ("Arthur", "Margaret", ()),
    ("James", "Victoria", ("Colin", "Charlotte")),
    ("Charles", "Jennifer", ()),
)
ITALIAN_COUPLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Roberto", "Maria", ("Emilio", "Lucia")),
    ("Pierro", "Francesca", ("Marco", "Angela")),
    ("Emilio", "Gina", ()),
    ("Marco", "Lucia", ("Alfonso", "Sophia")),
    ("Tomaso", "Angela", ()),
)
MALE_CHILDREN = frozenset({"Arthur", "James", "Colin", "Emilio", "Marco", "Alfonso"})

PEOPLE: tuple[str, ...] = (
    "Christopher", "Penelope", "Andrew", "Christine", "Margaret", "Arthur",
    "Victoria", "James", "Jennifer", "Charles", "Colin", "Charlotte",
    "Roberto", "Maria", "Pierro", "Francesca", "Gina", "Emilio",
    "Lucia", "Marco", "Angela", "Tomaso", "Alfonso", "Sophia",
)
RELATIONS: tuple[str, ...] = (
    "father", "mother", "husband", "wife", "son", "daughter",
    "uncle", "aunt", "brother", "sister", "nephew", "niece",
)


@dataclass(frozen=True)
class RelationPattern:
    """One training pattern: a person and a relation, with every person satisfying it.

    Attributes:
        person: The first person (input).
        relation: One of `RELATIONS` (input).
        answers: The people standing in `relation` to `person`, in `PEOPLE` order (targets).
    """

    person: str
    relation: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class FamilyRelationsArrays:
    """The patterns as arrays, split into training and held-out sets.

    Attributes:
        train_inputs: `(n_train, 36)` one-hot person (24) then one-hot relation (12).
        train_targets: `(n_train, 24)` multi-hot answers.
        test_inputs: `(test_count, 36)`.
        test_targets: `(test_count, 24)`.
        train_patterns: The records behind the training rows, in row order.
        test_patterns: The records behind the held-out rows, in row order.
    """

    train_inputs: Any
    train_targets: Any
    test_inputs: Any
    test_targets: Any
    train_patterns: tuple[RelationPattern, ...]
    test_patterns: tuple[RelationPattern, ...]


def _related_people() -> dict[str, dict[str, set[str]]]:
    """Derives, for every person, the set of people in each of the 12 relations."""
    male = set(MALE_CHILDREN)
    spouse: dict[str, str] = {}
    parents: dict[str, set[str]] = {person: set() for person in PEOPLE}
    children: dict[str, set[str]] = {person: set() for person in PEOPLE}
    for husband, wife, offspring in ENGLISH_COUPLES + ITALIAN_COUPLES:
        male.add(husband)
        spouse[husband], spouse[wife] = wife, husband
        for child in offspring:
            parents[child] |= {husband, wife}
            children[husband].add(child)
            children[wife].add(child)

    def siblings(person: str) -> set[str]:
        # Siblings share both parents; people without parents in the tree have none.
        return {other for other in PEOPLE if other != person and parents[other]
                and parents[other] == parents[person]}

    def in_law_siblings(person: str) -> set[str]:
        # A person's own siblings plus the spouses of those siblings (for uncles and aunts).
        own = siblings(person)
        return own | {spouse[sibling] for sibling in own if sibling in spouse}

    relations: dict[str, dict[str, set[str]]] = {}
    for person in PEOPLE:
        uncles_and_aunts = set().union(*(in_law_siblings(parent) for parent in parents[person]))
        spouses = {spouse[person]} if person in spouse else set()
        sibling_groups = siblings(person).union(*(siblings(partner) for partner in spouses))
        nephews_and_nieces = set().union(*(children[sibling] for sibling in sibling_groups))
        # Each male relation names the kin set; its female partner is the same set's women.
        by_sex = {
            "father": parents[person], "husband": spouses,
            "son": children[person], "uncle": uncles_and_aunts,
            "brother": siblings(person), "nephew": nephews_and_nieces,
        }
        relations[person] = {}
        for index in range(0, len(RELATIONS), 2):
            male_relation, female_relation = RELATIONS[index], RELATIONS[index + 1]
            kin = by_sex[male_relation]
            relations[person][male_relation] = {other for other in kin if other in male}
            relations[person][female_relation] = {other for other in kin if other not in male}
    return relations


def family_relation_patterns() -> tuple[RelationPattern, ...]:
    """Returns the 104 patterns, ordered by person (`PEOPLE`) then relation (`RELATIONS`).

    Returns:
        One record per (person, relation) pair that has at least one answer.
    """
    relations = _related_people()
    patterns = []
    for person in PEOPLE:
        for relation in RELATIONS:
            answers = relations[person][relation]
            if answers:
                ordered = tuple(other for other in PEOPLE if other in answers)
                patterns.append(RelationPattern(person, relation, ordered))
    return tuple(patterns)


def family_relations_arrays(
    test_count: int = 4, seed: int = 0, dtype: str = "float64"
) -> FamilyRelationsArrays:
    """Encodes the patterns as arrays and holds out `test_count` of them, chosen by `seed`.

    Args:
        test_count: Number of held-out patterns (Hinton's split is 100 training / 4 test).
        seed: Seed of the NumPy generator that permutes the patterns before the split.
        dtype: NumPy dtype of the arrays.

    Returns:
        Training and held-out inputs (36 columns) and targets (24 columns), rows in pattern order.

    Raises:
        ValueError: If `test_count` is negative or leaves no training pattern.
    """
    import numpy

    patterns = family_relation_patterns()
    if not 0 <= test_count < len(patterns):
        raise ValueError(f"test_count must be in [0, {len(patterns) - 1}], got {test_count}")
    inputs = numpy.zeros((len(patterns), len(PEOPLE) + len(RELATIONS)), dtype=dtype)
    targets = numpy.zeros((len(patterns), len(PEOPLE)), dtype=dtype)
    for row, pattern in enumerate(patterns):
        inputs[row, PEOPLE.index(pattern.person)] = 1
        inputs[row, len(PEOPLE) + RELATIONS.index(pattern.relation)] = 1
        for answer in pattern.answers:
            targets[row, PEOPLE.index(answer)] = 1
    order = numpy.random.default_rng(seed).permutation(len(patterns))
    # Sorting each part keeps rows in pattern order, so only membership depends on the seed.
    test_rows = numpy.sort(order[:test_count])
    train_rows = numpy.sort(order[test_count:])
    return FamilyRelationsArrays(
        train_inputs=inputs[train_rows],
        train_targets=targets[train_rows],
        test_inputs=inputs[test_rows],
        test_targets=targets[test_rows],
        train_patterns=tuple(patterns[row] for row in train_rows),
        test_patterns=tuple(patterns[row] for row in test_rows),
    )
