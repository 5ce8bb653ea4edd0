"""Data stage: one class per utterance for the `kaldi` source, from a `utt2label` file.

In: a Kaldi-style two-column file (utterance id, then a class name: `utt2spk` for speaker
identification, or any `utt2<label>` table), the utterance ids of `feats.scp`, and optionally the
class names in index order. Out: each utterance's class index, in the scp's order, and the class
names (given, or the sorted set of names in the file, so class numbers are the same on every run).

Checked without reading a feature: every utterance of the scp has a label, every labelled
utterance has features (the error names the file, line and id), every name is a known class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nndsl.data.registry import DataSourceError


def read_class_labels(file: Path, table: dict[str, str], lines: dict[str, int],
                      utterances: Sequence[str], scp: Path,
                      classes: Sequence[str] | None) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Class indices of `utterances` (scp order) and the class names.

    Args:
        file: the utt2label file (for messages).
        table: its utterance id → class name, as read.
        lines: its utterance id → line number.
        utterances: the scp's utterance ids.
        scp: the scp file (for messages).
        classes: the class names in index order, or None to take the file's sorted names.

    Raises:
        DataSourceError: an unlabelled utterance, a labelled id without features, a label with
            more than one word, or a name outside `classes`.
    """
    known = set(utterances)
    for utterance, name in table.items():
        if utterance not in known:
            raise DataSourceError(f"{file}, line {lines[utterance]}: utterance {utterance!r} has "
                                  f"no features in {scp}", "utt2label", "both files must list "
                                  "the same utterances (utils/fix_data_dir.sh)")
        if len(name.split()) != 1:
            raise DataSourceError(f"{file}, line {lines[utterance]}: utterance {utterance!r} has "
                                  f"{name!r}, not one class name", "utt2label",
                                  "write one class name after each utterance id")
    unlabelled = [utterance for utterance in utterances if utterance not in table]
    if unlabelled:
        raise DataSourceError(f"{len(unlabelled)} utterances of {scp} have no label in {file} "
                              f"(first: {unlabelled[0]!r})", "utt2label",
                              "label every utterance, or drop the others (utils/fix_data_dir.sh)")
    names = tuple(classes) if classes is not None else tuple(sorted(set(table.values())))
    index = {name: position for position, name in enumerate(names)}
    for utterance in utterances:
        if table[utterance] not in index:
            raise DataSourceError(f"{file}, line {lines[utterance]}: utterance {utterance!r} has "
                                  f"class {table[utterance]!r}, which is not in `classes`",
                                  "classes", "add it to `classes` or relabel the utterance")
    return tuple(index[table[utterance]] for utterance in utterances), names
