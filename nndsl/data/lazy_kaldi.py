"""Data stage: the `kaldi` source read lazily (`lazy: true`): each utterance is read from its ark
file at its scp offset when a batch needs it.

In: the cross-checked `KaldiListing` (scp + text or utt2label) and the spec's keys. Out: a
`KaldiStore` holding, per utterance, its resolved `ark:offset`, its frame count and its labels,
and no feature. Frame counts come from `utt2num_frames` (next to feats.scp, as Kaldi's
`--write-utt2num-frames` and ESPnet write it, or the file the spec names), else from each
matrix's header: a seek and 15 bytes per utterance, not its features (`matrix_shape`).
Before training, a bounded sample of utterances (the first and a seeded draw, `SAMPLE_SIZE` in
all) is read in full: feature size, finite values, and frame counts that match the lengths.
Every utterance read later is checked the same way, so a damaged utterance outside the sample
stops training with the same message rather than training on it. Each ark's last utterance is
read in full too (a truncated ark is E516), and an ark that changes while training reads it stops
the run (E516, `nndsl.data.file_checks`).
"""

from __future__ import annotations

import struct
from itertools import pairwise
from pathlib import Path
from typing import Any

from nndsl.data.file_checks import SMALLEST_MATRIX, FileStamps, check_ark_ends, truncated_ark
from nndsl.data.lazy_store import Example, ExampleStore, directory_size
from nndsl.data.registry import DataSourceError

SAMPLE_SIZE = 32
#: Codes: a pipe entry under lazy reading; frame counts that disagree; non-finite features.
PIPE_UNDER_LAZY, LENGTHS_DISAGREE, NOT_FINITE = "E349", "E496", "E350"


def matrix_shape(ark: Path, offset: int, handles: dict) -> tuple[int, int] | None:
    """(rows, columns) from a binary Kaldi matrix header at `offset` (FM, DM, CM, CM2, CM3),
    or None when the header is not one of those (the caller then reads the matrix)."""
    handle = handles.get(ark)
    if handle is None:
        handle = handles[ark] = open(ark, "rb")  # noqa: SIM115 - kept open in `handles`
    handle.seek(offset)
    if handle.read(2) != b"\0B":
        return None
    token = b""
    while len(token) < 4 and (char := handle.read(1)) not in (b" ", b""):
        token += char
    if token in (b"FM", b"DM"):
        header = handle.read(10)  # \4 rows \4 columns
        if len(header) < 10 or header[0] != 4 or header[5] != 4:
            return None
        return struct.unpack("<i", header[1:5])[0], struct.unpack("<i", header[6:10])[0]
    if token in (b"CM", b"CM2", b"CM3"):
        header = handle.read(16)  # min, range (float32), rows, columns (int32)
        return (struct.unpack("<ii", header[8:16]) if len(header) == 16 else None)
    return None


def read_frame_counts(file: Path, utterances: tuple[str, ...]) -> Any:
    """Frames per utterance from a `utt2num_frames` file, in `utterances`' order.

    Raises:
        DataSourceError (E496): an utterance missing from the file or a count that is not a
            positive integer.
    """
    import numpy as np

    from nndsl.data.files import read_utf8

    counts: dict[str, str] = {}
    for line in read_utf8(file, "utt2num_frames").splitlines():
        if line.strip():
            utterance, _, value = line.partition(" ")
            counts[utterance] = value.strip()
    lengths = np.zeros(len(utterances), dtype=np.int64)
    for row, utterance in enumerate(utterances):
        value = counts.get(utterance)
        if value is None or not value.isdigit() or int(value) < 1:
            problem = "is missing" if value is None else f"has {value!r}, not a frame count"
            raise DataSourceError(f"{file}: utterance {utterance!r} {problem}", "utt2num_frames",
                                  "regenerate it (utils/data/get_utt2num_frames.sh) or delete it "
                                  "to read the counts from the ark headers",
                                  code=LENGTHS_DISAGREE)
        lengths[row] = int(value)
    return lengths


def split_location(location: str) -> tuple[Path, int] | None:
    """(ark file, byte offset) of a resolved scp entry, or None for one with a slice."""
    path, _, offset = location.rpartition(":")
    if not offset.isdigit():
        return None
    return Path(path), int(offset)


class KaldiStore(ExampleStore):
    """Utterances of a Kaldi data directory, read by offset (see the module docstring).

    Args:
        scp: the feats.scp file (for messages).
        utterances: ids in the listing's order.
        locations: each utterance's resolved `ark:offset` (kaldiio's form).
        lengths: frames per utterance.
        labels: each utterance's label sequence, or its one class as a 1-tuple.
        class_names: label or class names.
        feature_dim: features per frame.
        sequence_targets: label sequences (CTC) rather than one class per utterance.
    """

    def __init__(self, scp: Path, utterances: tuple[str, ...], locations: tuple[str, ...],
                 lengths: Any, labels: tuple[tuple[int, ...], ...], class_names: tuple[str, ...],
                 feature_dim: int, sequence_targets: bool) -> None:
        self.scp, self.locations, self.labels = scp, locations, labels
        self.count, self.input_lengths = len(utterances), lengths
        self.example_ids, self.class_names = utterances, class_names
        self.feature_dim, self.has_target_lengths = feature_dim, sequence_targets
        self.stamps = FileStamps({_ark(location) for location in locations}, "feats")

    def read_matrix(self, index: int) -> Any:
        """Utterance `index`'s features, checked against its length and the feature size."""
        import kaldiio
        import numpy as np

        handles = self.__dict__.setdefault("_handles", {})
        utterance = self.example_ids[index]
        try:
            matrix = kaldiio.load_mat(self.locations[index], fd_dict=handles)
        except Exception as error:  # noqa: BLE001 - kaldiio raises several types
            raise DataSourceError(f"{self.scp}: cannot read utterance {utterance!r} ({error})",
                                  "feats", "check that the ark file is complete") from None
        expected = (int(self.input_lengths[index]), self.feature_dim)
        if matrix.shape != expected:
            raise DataSourceError(f"{self.scp}: utterance {utterance!r} has shape {matrix.shape}, "
                                  f"expected {expected} (frames from its length, features from "
                                  "the data set)", "feats", "all utterances need the same feature "
                                  "size; regenerate utt2num_frames if it is stale",
                                  code=LENGTHS_DISAGREE)
        if not np.isfinite(matrix).all():
            frame, column = (int(axis[0]) for axis in np.nonzero(~np.isfinite(matrix)))
            raise DataSourceError(f"{self.scp}: utterance {utterance!r} holds NaN or infinity "
                                  f"({matrix[frame, column]}) at frame {frame}, feature {column}",
                                  "feats", "clean the features or drop the utterance",
                                  code=NOT_FINITE)
        return matrix

    def examples(self, indices: Any) -> list[Example]:
        import numpy as np

        indices = [int(index) for index in indices]
        self.stamps.check({_ark(self.locations[index]) for index in indices})
        examples = []
        for index in indices:
            matrix = self.read_matrix(index)
            example: Example = {"inputs": matrix, "input_lengths": np.int64(len(matrix))}
            if self.has_target_lengths:
                example["targets"] = np.asarray(self.labels[index], dtype=np.int64)
                example["target_lengths"] = np.int64(len(self.labels[index]))
            else:
                example["targets"] = np.int64(self.labels[index][0])
            examples.append(example)
        return examples

    def class_targets(self) -> Any:
        import numpy as np

        if self.has_target_lengths:
            return None
        return np.array([labels[0] for labels in self.labels], dtype=np.int64)

    def size_on_disk(self) -> int:
        """Bytes of the ark files the scp points into."""
        return directory_size(location.rpartition(":")[0] for location in self.locations)

    def close(self) -> None:
        for handle in self.__dict__.pop("_handles", {}).values():
            handle.close()

    def check_sample(self, seed: int) -> None:
        """Read a bounded sample in full (see the module docstring); raises DataSourceError."""
        import numpy as np

        count = min(SAMPLE_SIZE, self.count)
        drawn = np.random.default_rng([seed, 3]).choice(self.count, count, replace=False)
        for index in sorted({0, *(int(row) for row in drawn)}):
            self.read_matrix(index)
        self.close()


def frame_counts(scp: Path, utterances: tuple[str, ...], locations: tuple[str, ...],
                 counts_file: Path | None) -> Any:
    """Frames per utterance: from `counts_file` when given, else from the matrix headers."""
    import kaldiio
    import numpy as np

    if counts_file is not None:
        return read_frame_counts(counts_file, utterances)
    lengths = np.zeros(len(utterances), dtype=np.int64)
    handles: dict = {}
    try:
        for row, location in enumerate(locations):
            place = split_location(location)
            shape = None if place is None else matrix_shape(place[0], place[1], handles)
            if shape is None:  # a slice, or a header this reader does not know: read it whole
                shape = kaldiio.load_mat(location, fd_dict=handles).shape
            lengths[row] = shape[0]
    except (OSError, ValueError, AssertionError, struct.error) as error:
        place = split_location(locations[row])
        if place is not None and place[0].is_file() and \
                place[1] + SMALLEST_MATRIX > place[0].stat().st_size:
            raise truncated_ark(place[0], place[1], utterances[row]) from None
        raise DataSourceError(f"{scp}: cannot read the header of utterance "
                              f"{utterances[row]!r} ({error})", "feats",
                              "check that the ark file is complete and matches the scp") from None
    finally:
        for handle in handles.values():
            handle.close()
    return lengths


def check_alignable(scp: Path, utterances: tuple[str, ...], lengths: Any,
                    labels: tuple[tuple[int, ...], ...]) -> None:
    """CTC needs a frame per label plus a blank between equal neighbours (from lengths only)."""
    for utterance, frames, sequence in zip(utterances, lengths, labels):
        needed = len(sequence) + sum(a == b for a, b in pairwise(sequence))
        if int(frames) < needed:
            raise DataSourceError(f"{scp}: utterance {utterance!r} has {int(frames)} frames, "
                                  f"CTC needs {needed} for its transcript", "feats",
                                  "drop it or reduce subsampling")


def open_store(listing: Any, locations: tuple[str, ...], feature_dim: int,
               counts_file: Path | None, seed: int) -> KaldiStore:
    """The lazy store of a cross-checked listing, its sample read and checked.

    Raises:
        DataSourceError: a pipe entry (E349), unreadable headers, disagreeing frame counts
            (E496), non-finite features in the sample (E350), an utterance CTC cannot align.
    """
    piped = next((utterance for utterance, location in zip(listing.utterances, locations)
                  if "|" in location), None)
    if piped is not None:
        raise DataSourceError(f"{listing.scp}: utterance {piped!r} is a pipe command; lazy "
                              "reading needs each utterance's ark file and offset", "lazy",
                              "write the features to an ark file (copy-feats), or load the "
                              "data whole with `lazy: false`", code=PIPE_UNDER_LAZY)
    lengths = frame_counts(listing.scp, listing.utterances, locations, counts_file)
    sequence_targets = listing.target_kind != "class"
    if sequence_targets:
        check_alignable(listing.scp, listing.utterances, lengths, listing.labels)
    store = KaldiStore(listing.scp, listing.utterances, locations, lengths, listing.labels,
                       listing.class_names, feature_dim, sequence_targets)
    check_ark_ends(store, split_location)
    store.check_sample(seed)
    return store


def _ark(location: str) -> str:
    """The ark file of a resolved scp entry (`ark:offset`, possibly with a slice)."""
    return location.rpartition(":")[0]
