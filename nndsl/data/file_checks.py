"""Data stage: data files that are cut short, or that change while a run reads them.

In: the files a lazily read data set consists of. Out: nothing, or a `DataSourceError` with code
E516 naming the file and saying what is wrong:

- `check_npy_complete`: a `.npy` file holding fewer bytes than its header's shape and dtype
  need (an interrupted write or copy); checked before the file is memory-mapped, where numpy
  would only say "mmap length is greater than file size".
- `check_last_utterances` (validation) and `check_ark_ends` (when training opens the data):
  each Kaldi ark's last utterance (by offset) read in full: a truncated ark loses its tail, so
  this finds it before training, not after hours of it.
- `FileStamps`: each file's size and modification time, taken when a store opens the data and
  compared before every batch is read: a file rewritten or truncated under a running training
  stops it with this error instead of training on other data than was checked, or crashing
  on a memory map whose pages vanished.

numpy is imported inside functions: validation imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nndsl.data.registry import DataSourceError

CHANGED_OR_TRUNCATED = "E516"
SMALLEST_MATRIX = 15  # bytes of a binary Kaldi matrix header ("\0B", "FM ", two sizes)


def check_npy_complete(file: Path, field: str) -> None:
    """Raise E516 when `file`'s data is shorter than its header says. A header numpy cannot read
    is left to `numpy.load` (the caller's message for an unreadable array)."""
    import numpy as np

    size = file.stat().st_size
    with open(file, "rb") as stream:
        try:
            version = np.lib.format.read_magic(stream)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(stream)
        except (ValueError, OSError, EOFError):
            return
        start = stream.tell()
    if dtype.hasobject:
        return
    needed = start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < needed:
        raise DataSourceError(f"{file} is truncated: its header describes a {dtype} array of "
                              f"shape {tuple(shape)} ({needed} bytes with the header), the file "
                              f"holds {size} bytes", field, "the file was cut short (an "
                              "interrupted write or copy); write it again with numpy.save",
                              code=CHANGED_OR_TRUNCATED)


def check_ark_ends(store: Any, split_location: Any) -> None:
    """Read each ark file's last utterance (the largest offset) of a `KaldiStore` in full.

    Raises:
        DataSourceError: E516 when it cannot be read (the ark is shorter than the scp says);
            a frame count or feature size that disagrees (E496) or non-finite features (E350)
            as `read_matrix` raises them.
    """
    for ark, (offset, index) in last_per_ark(store.locations, split_location).items():
        size = ark.stat().st_size if ark.is_file() else 0
        try:
            store.read_matrix(index)
        except DataSourceError as error:
            if error.code != "E412":  # readable, but wrong: its own message says what
                raise
            raise truncated_ark(ark, offset, store.example_ids[index], size) from None
    store.close()


def check_last_utterances(locations: tuple[str, ...], utterances: tuple[str, ...]) -> None:
    """Validation's look for a truncated ark: each existing ark's last utterance (by offset)
    read with kaldiio (no feature checks: `check_ark_ends` makes those when training opens it).

    Raises:
        DataSourceError: E516 when one cannot be read.
    """
    import kaldiio

    from nndsl.data.lazy_kaldi import split_location  # that module imports this one

    for ark, (offset, index) in last_per_ark(locations, split_location).items():
        if not ark.is_file():
            continue  # a missing file is reported where the files are read
        try:
            kaldiio.load_mat(locations[index])
        except Exception:  # noqa: BLE001 - kaldiio raises several types for a short file
            raise truncated_ark(ark, offset, utterances[index]) from None


def last_per_ark(locations: tuple[str, ...], split_location: Any) -> dict[Path, tuple[int, int]]:
    """Each ark file's largest offset and the index of the utterance there."""
    last: dict[Path, tuple[int, int]] = {}
    for index, location in enumerate(locations):
        place = split_location(location)
        if place is not None and place[1] >= last.get(place[0], (-1, 0))[0]:
            last[place[0]] = (place[1], index)
    return last


def truncated_ark(ark: Path, offset: int, utterance: str, size: int | None = None) -> \
        DataSourceError:
    """E516 for an ark whose utterance at `offset` cannot be read in full."""
    size = ark.stat().st_size if size is None else size
    return DataSourceError(f"{ark} is truncated: utterance {utterance!r} starts at byte "
                           f"{offset} of the {size} the file holds and cannot be read in full",
                           "feats", "the ark was cut short (an interrupted write or copy); write "
                           "it again, e.g. with copy-feats", code=CHANGED_OR_TRUNCATED)


class FileStamps:
    """Size and modification time of data files, taken once, compared before each read.

    Args:
        files: the files a store reads (each stamped now).
        field: the `data:` key errors point at ("path", "feats").
    """

    def __init__(self, files: Any, field: str) -> None:
        self.field = field
        self.stamps = {str(file): _stamp(str(file)) for file in files}

    def check(self, files: Any = None) -> None:
        """Raise E516 when one of `files` (default: all) differs from its stamp."""
        for file in self.stamps if files is None else (str(file) for file in files):
            then, now = self.stamps[file], _stamp(file)
            if now != then:
                change = ("is gone" if now is None else
                          f"changed size from {then[0]} to {now[0]} bytes" if now[0] != then[0]
                          else "was rewritten (its modification time changed)")
                raise DataSourceError(f"{file} {change} after training opened and checked it",
                                      self.field, "leave data files alone while a run reads "
                                      "them; once they are final, train again (or --resume "
                                      "if the data is the same)", code=CHANGED_OR_TRUNCATED)


def _stamp(file: str) -> tuple[int, int] | None:
    try:
        status = os.stat(file)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def check_matches_validation(signature: Any, store: Any) -> None:
    """E516 when a lazy store, opened for training, disagrees with what validation read from the
    same files moments before (a file replaced in between): the example count, an example's
    input shape, labels beyond the validated classes. The network was built for the latter."""
    import numpy as np

    problems = []
    if signature.example_count is not None and len(store) != signature.example_count:
        problems.append(f"{signature.example_count} examples when validated, {len(store)} now")
    expected = tuple(signature.input_shape)
    shape = tuple(np.shape(store.example(0)["inputs"]))
    if expected[:1] == ("T",):  # sequences: the frame shape
        expected, shape = expected[1:], shape[1:]
    if shape != expected:
        problems.append(f"inputs of shape {expected} when validated, {shape} now")
    targets = store.class_targets() if signature.num_classes is not None else None
    if targets is not None and len(targets) and int(np.max(targets)) >= signature.num_classes:
        problems.append(f"{signature.num_classes} classes when validated, label "
                        f"{int(np.max(targets))} now")
    if problems:
        raise DataSourceError("the data changed between validation and training: "
                              + "; ".join(problems), None, "leave data files alone while a run "
                              "starts; train again once they are final",
                              code=CHANGED_OR_TRUNCATED)
