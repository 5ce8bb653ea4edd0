"""Hinton's family-relations data: the digest's counts and the facts of the two trees."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy
import pytest

from nndsl.data.family_relations import (
    PEOPLE,
    RELATIONS,
    family_relation_patterns,
    family_relations_arrays,
)


def answers_of(person: str, relation: str) -> set[str]:
    for pattern in family_relation_patterns():
        if (pattern.person, pattern.relation) == (person, relation):
            return set(pattern.answers)
    return set()


def test_pattern_and_triple_counts() -> None:
    patterns = family_relation_patterns()
    assert len(patterns) == 104
    assert sum(len(pattern.answers) for pattern in patterns) == 112
    two_answer = [pattern for pattern in patterns if len(pattern.answers) == 2]
    assert len(two_answer) == 8
    assert {pattern.relation for pattern in two_answer} == {"uncle", "aunt"}
    assert all(len(pattern.answers) <= 2 for pattern in patterns)


def test_per_relation_counts() -> None:
    counts = Counter(pattern.relation for pattern in family_relation_patterns())
    expected = {"father": 12, "mother": 12, "son": 12, "daughter": 12, "husband": 10, "wife": 10,
                "nephew": 8, "niece": 8, "brother": 6, "sister": 6, "uncle": 4, "aunt": 4}
    assert dict(counts) == expected


def test_tree_facts() -> None:
    assert answers_of("Arthur", "father") == {"Christopher"}
    assert answers_of("Arthur", "wife") == {"Margaret"}
    assert answers_of("Victoria", "husband") == {"James"}
    assert answers_of("Christopher", "son") == {"Arthur"}
    assert answers_of("Andrew", "daughter") == {"Jennifer"}
    assert answers_of("Colin", "sister") == {"Charlotte"}
    # Uncles and aunts include in-laws: a parent's sibling and that sibling's spouse.
    assert answers_of("Colin", "uncle") == {"Arthur", "Charles"}
    assert answers_of("Charlotte", "aunt") == {"Jennifer", "Margaret"}
    assert answers_of("Margaret", "nephew") == {"Colin"}
    assert answers_of("Charles", "niece") == {"Charlotte"}
    assert answers_of("Sophia", "uncle") == {"Emilio", "Tomaso"}
    assert answers_of("Lucia", "husband") == {"Marco"}
    # Victoria's own children are not her nephews; childless grandparents have no siblings.
    assert answers_of("Victoria", "nephew") == set()
    assert answers_of("Christopher", "brother") == set()


def test_trees_are_isomorphic() -> None:
    english, italian = PEOPLE[:12], PEOPLE[12:]
    translate = dict(zip(english, italian))
    english_triples = {(pattern.relation, translate[pattern.person], translate[answer])
                       for pattern in family_relation_patterns() if pattern.person in english
                       for answer in pattern.answers}
    italian_triples = {(pattern.relation, pattern.person, answer)
                       for pattern in family_relation_patterns() if pattern.person in italian
                       for answer in pattern.answers}
    assert english_triples == italian_triples
    assert len(italian_triples) == 56


def test_arrays_encode_patterns_and_split_by_seed() -> None:
    arrays = family_relations_arrays(test_count=4, seed=0)
    assert arrays.train_inputs.shape == (100, 36)
    assert arrays.train_targets.shape == (100, 24)
    assert arrays.test_inputs.shape == (4, 36)
    assert arrays.train_inputs.dtype == numpy.float64
    inputs = numpy.concatenate([arrays.train_inputs, arrays.test_inputs])
    targets = numpy.concatenate([arrays.train_targets, arrays.test_targets])
    assert (inputs[:, :24].sum(axis=1) == 1).all() and (inputs[:, 24:].sum(axis=1) == 1).all()
    assert targets.sum() == 112
    # Every pattern appears exactly once across the split.
    assert len({tuple(row) for row in inputs}) == 104
    for row, pattern in zip(arrays.test_inputs, arrays.test_patterns):
        assert PEOPLE[int(row[:24].argmax())] == pattern.person
        assert RELATIONS[int(row[24:].argmax())] == pattern.relation
    again = family_relations_arrays(test_count=4, seed=0)
    assert again.test_patterns == arrays.test_patterns
    other = family_relations_arrays(test_count=4, seed=1)
    assert other.test_patterns != arrays.test_patterns


def test_invalid_test_count() -> None:
    with pytest.raises(ValueError, match="test_count"):
        family_relations_arrays(test_count=104)


def test_import_does_not_load_numpy() -> None:
    code = ("import sys; import nndsl.data.family_relations as data;"
            " data.family_relation_patterns(); assert 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
