"""Data stage: the `kaldi` source, Kaldi feature archives with character transcripts (for CTC) or
one class per utterance (speaker identification and other sequence classification).

In: a Kaldi `feats.scp` (utterance id → `ark` file and offset, as Kaldi or kaldiio's
`WriteHelper("ark,scp:...")` write it), a Kaldi `text` file (utterance id, then the transcript)
and optionally the label vocabulary. Out: a `DataSignature` (("T", feature_dim) sequences, labels
= vocabulary + blank 0) and, on `load`, padded float32 features with frame counts and padded
int64 label sequences with their lengths; `example_ids` keeps the utterance ids. With
`utt2label` instead of `text` (a two-column file of utterance id and class name, such as
`utt2spk`) the targets are one class index per utterance and the class names are kept in
`class_names` (`nndsl.data.kaldi_labels`).

Transcripts are split into characters; a space becomes `space_symbol` ("<space>", as in ESPnet).
A given vocabulary may hold multi-character symbols ("<noise>"), matched longest first. Without
one, the vocabulary is the sorted set of characters in the transcripts, so label numbers are the
same on every run. Relative `ark` paths in the scp are looked up next to the scp first, then in
the spec file's directory. The signature reads only the two text files (and one matrix when
`feature_dim` is not given); kaldiio and numpy are imported inside functions.

An scp entry such as `compute-feats ... |` is a Kaldi pipe: kaldiio runs it as a shell command.
Validation and `show` never run one (they read no matrix from a pipe entry). Training runs them
only when the spec says `allow_pipe_commands: true` under `data:`; without it a pipe entry is an
error at validation naming that key. An entry holding `|` anywhere counts as a pipe, since
kaldiio also treats a path ending in `|` after its offset and slice are cut off as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nndsl.data.file_checks import check_last_utterances
from nndsl.data.files import existing_file, read_utf8
from nndsl.data.kaldi_labels import read_class_labels
from nndsl.data.registry import DataArrays, DataSignature, DataSourceError, data_source

BLANK_NAME = "<blank>"


class KaldiParams(BaseModel):
    """Keys of `data:` for `source: kaldi` (besides the common ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    feats: str = Field(description="the feats.scp file, relative to the spec file's directory")
    text: str | None = Field(None, description="the Kaldi text file: utterance id, then the "
                             "transcript (label sequences, for CTC)")
    utt2label: str | None = Field(None, description="instead of `text`: utterance id, then one "
                                  "class name (e.g. utt2spk), for one class per utterance")
    classes: tuple[str, ...] | None = Field(
        None, min_length=1, description="with `utt2label`: the class names, numbered from 0; "
        "default: the file's sorted names")
    vocabulary: tuple[str, ...] | None = Field(
        None, description="label symbols, numbered from 1 (0 is the blank); default: the "
        "transcripts' sorted characters"
    )
    space_symbol: str = Field("<space>", min_length=1, description="the symbol for a space")
    feature_dim: int | None = Field(
        None, ge=1, description="features per frame; default: read from the first utterance"
    )
    allow_pipe_commands: bool = Field(
        False, description="run the shell commands of feats.scp pipe entries (`cmd ... |`) when "
        "training; only for data you trust (validation never runs them)"
    )
    lazy: bool = Field(
        False, description="read each utterance from its ark offset when a batch needs it, "
        "instead of loading the whole set before training (data larger than memory)"
    )
    utt2num_frames: str | None = Field(
        None, description="with `lazy`: frames per utterance (default: the utt2num_frames file "
        "next to feats.scp if there is one, else the ark headers)"
    )


    @model_validator(mode="after")
    def _one_kind_of_target(self) -> KaldiParams:
        if (self.text is None) == (self.utt2label is None):
            raise ValueError("give either `text` (transcripts) or `utt2label` (one class per "
                             "utterance)")
        unused = (("classes",) if self.text is not None else
                  ("vocabulary", "space_symbol"))
        if not self.lazy and "utt2num_frames" in self.model_fields_set:
            unused = (*unused, "utt2num_frames")
        written = [key for key in unused if key in self.model_fields_set]
        if written:
            reason = ("lazy: false" if written[0] == "utt2num_frames" else
                      "text" if self.text is not None else "utt2label")
            raise ValueError(f"`{written[0]}` has no effect with `{reason}`")
        return self


PIPE_KEY = "allow_pipe_commands"


def is_pipe_command(specifier: str) -> bool:
    """Whether kaldiio could run `specifier` (an scp entry's value) as a shell command."""
    return "|" in specifier


def _read_table(file: Path, field: str, lines: dict[str, int] | None = None) -> dict[str, str]:
    """Utterance id → rest of the line, for Kaldi's two-column files; ids must be unique.
    `lines`, when given, receives each id's line number."""
    table: dict[str, str] = {}
    text = read_utf8(file, field)
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        utterance, *rest = line.split(maxsplit=1)  # Kaldi allows tabs as well as spaces
        if utterance in table:
            raise DataSourceError(f"{file}, line {line_number}: utterance {utterance!r} appears "
                                  "twice", field, "keep one line per utterance")
        table[utterance] = rest[0].strip() if rest else ""
        if lines is not None:
            lines[utterance] = line_number
    if not table:
        raise DataSourceError(f"{file} lists no utterances", field, "check the file")
    return table


def _tokenise(transcript: str, symbols: dict[str, int], space_symbol: str) -> list[str]:
    """Split a transcript into vocabulary symbols, longest match first; unknown text → error."""
    longest = max((len(symbol) for symbol in symbols), default=1)
    text = " ".join(transcript.split()).replace(" ", "\0")  # \0: a space, whatever space_symbol
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position] == "\0":
            tokens.append(space_symbol)
            position += 1
            continue
        for size in range(min(longest, len(text) - position), 0, -1):
            if text[position:position + size] in symbols:
                tokens.append(text[position:position + size])
                position += size
                break
        else:
            raise KeyError(text[position])
    return tokens


@dataclass(frozen=True)
class KaldiListing:
    """The scp and text files read and cross-checked, in the text file's utterance order."""

    scp: Path
    utterances: tuple[str, ...]
    specifiers: tuple[str, ...]
    labels: tuple[tuple[int, ...], ...]  # per utterance: its label sequence, or its one class
    class_names: tuple[str, ...]
    target_kind: str = "label_sequence"


def read_listing(params: KaldiParams, base_directory: Path) -> KaldiListing:
    """Read and cross-check the scp and text files (no feature is read).

    Raises:
        DataSourceError: a missing file, utterances in one file but not the other, a duplicate
            utterance, or a transcript symbol outside the vocabulary.
    """
    scp = existing_file(base_directory, params.feats, "feats", "feats.scp")
    if params.text is not None:
        text_file = existing_file(base_directory, params.text, "text", "text file")
    specifiers = _read_table(scp, "feats")
    if not params.allow_pipe_commands:
        piped = next((item for item in specifiers.items() if is_pipe_command(item[1])), None)
        if piped is not None:
            command = piped[1] if len(piped[1]) <= 80 else piped[1][:77] + "..."
            raise DataSourceError(
                f"{scp}: utterance {piped[0]!r} is a pipe command ({command!r}), which would run "
                f"in a shell; nndsl runs such commands only with `{PIPE_KEY}: true` under `data:`",
                "feats", f"if you trust this data directory, add `{PIPE_KEY}: true` under `data:` "
                "(the commands run when training, never when validating); else write the features "
                "to an ark file")
    if params.utt2label is not None:
        return _class_listing(params, base_directory, scp, specifiers)
    transcripts = _read_table(text_file, "text")
    missing = [utterance for utterance in specifiers if utterance not in transcripts]
    extra = [utterance for utterance in transcripts if utterance not in specifiers]
    if missing or extra:
        side = f"{len(missing)} utterances of {scp} lack a transcript in {text_file}" if missing \
            else f"{len(extra)} utterances of {text_file} have no features in {scp}"
        raise DataSourceError(f"{side} (first: {(missing or extra)[0]!r})",
                              "text" if missing else "feats",
                              "both files must list the same utterances (utils/fix_data_dir.sh)")
    vocabulary = params.vocabulary
    if vocabulary is None:
        characters = {char for line in transcripts.values() for char in line if not char.isspace()}
        has_space = any(" " in " ".join(line.split()) for line in transcripts.values())
        vocabulary = tuple(sorted(characters)) + ((params.space_symbol,) if has_space else ())
    symbols = {symbol: index for index, symbol in enumerate(vocabulary, start=1)}
    labels: list[tuple[int, ...]] = []
    for utterance, transcript in transcripts.items():
        try:
            tokens = _tokenise(transcript, symbols, params.space_symbol)
            labels.append(tuple(symbols[token] for token in tokens))
        except KeyError as error:
            raise DataSourceError(
                f"{text_file}: utterance {utterance!r} has {error.args[0]!r}, which is not in the "
                "vocabulary", "vocabulary", "add the symbol to `vocabulary` or clean the text",
            ) from None
    return KaldiListing(
        scp=scp,
        utterances=tuple(transcripts),
        specifiers=tuple(specifiers[utterance] for utterance in transcripts),
        labels=tuple(labels),
        class_names=(BLANK_NAME, *vocabulary),
    )


def _class_listing(params: KaldiParams, base_directory: Path, scp: Path,
                   specifiers: dict[str, str]) -> KaldiListing:
    """The listing for one class per utterance, in the scp's order."""
    assert params.utt2label is not None
    file = existing_file(base_directory, params.utt2label, "utt2label", "utt2label file")
    lines: dict[str, int] = {}
    table = _read_table(file, "utt2label", lines)
    utterances = tuple(specifiers)
    classes, names = read_class_labels(file, table, lines, utterances, scp, params.classes)
    return KaldiListing(scp=scp, utterances=utterances,
                        specifiers=tuple(specifiers[utterance] for utterance in utterances),
                        labels=tuple((label,) for label in classes), class_names=names,
                        target_kind="class")


def _resolve_specifier(specifier: str, scp: Path, base_directory: Path) -> str:
    """Make a relative ark path absolute (next to the scp, else in the spec's directory)."""
    if is_pipe_command(specifier):
        return specifier  # only with allow_pipe_commands (read_listing): kaldiio runs it as written
    path, colon, offset = specifier.rpartition(":")
    if not colon or not offset.split("[")[0].isdigit():
        path, colon, offset = specifier, "", ""
    for folder in (scp.parent, base_directory):
        candidate = folder / path
        if candidate.is_file():
            return f"{candidate.resolve()}{colon}{offset}"
    raise DataSourceError(f"{scp}: archive {path!r} not found next to it or in "
                          f"{base_directory}", "feats", "regenerate feats.scp or fix its paths")


def _read_matrix(specifier: str, scp: Path, base_directory: Path, handles: dict) -> Any:
    import kaldiio

    try:
        return kaldiio.load_mat(_resolve_specifier(specifier, scp, base_directory),
                                fd_dict=handles)
    except DataSourceError:
        raise
    except Exception as error:  # kaldiio raises several types for a damaged archive
        raise DataSourceError(f"{scp}: cannot read {specifier!r} ({error})", "feats",
                              "check that the ark file is complete and matches the scp") from None


@data_source("kaldi")
class KaldiFeatures:
    """Kaldi feats.scp + text (character labels with blank 0, for CTC) or + utt2label (a class)."""

    Params = KaldiParams
    doc = ("Kaldi feats.scp (via kaldiio) + text transcripts as character labels (CTC), or + "
           "utt2label: one class per utterance")

    def signature(self, params: KaldiParams, base_directory: Path) -> DataSignature:
        """Reads the scp and text files; one matrix only when `feature_dim` is not given."""
        return self._signature(params, read_listing(params, base_directory), base_directory)

    def _signature(self, params: KaldiParams, listing: KaldiListing, base_directory: Path,
                   check_ark_ends: bool = True) -> DataSignature:  # False: the store checks
        piped = next((utterance for utterance, specifier in zip(listing.utterances,
                                                                listing.specifiers)
                      if is_pipe_command(specifier)), None)
        if params.lazy and piped is not None:
            from nndsl.data.lazy_kaldi import PIPE_UNDER_LAZY

            raise DataSourceError(f"{listing.scp}: utterance {piped!r} is a pipe command; lazy "
                                  "reading needs each utterance's ark file and offset", "lazy",
                                  "write the features to an ark file (copy-feats), or load the "
                                  "data whole with `lazy: false`", code=PIPE_UNDER_LAZY)
        if params.lazy and check_ark_ends:  # a truncated ark's last utterance fails (E516)
            check_last_utterances(tuple(_resolve_specifier(item, listing.scp, base_directory)
                                        for item in listing.specifiers), listing.utterances)
        feature_dim = params.feature_dim
        if feature_dim is None:
            # Validation runs no command: the size comes from the first entry that is a file.
            readable = [item for item in listing.specifiers if not is_pipe_command(item)]
            if not readable:
                raise DataSourceError(f"{listing.scp}: every entry is a pipe command, and "
                                      "validation runs none to learn the feature size", PIPE_KEY,
                                      "give `feature_dim:` under `data:`")
            first = _read_matrix(readable[0], listing.scp, base_directory, {})
            feature_dim = int(first.shape[-1])
        count = len(listing.utterances)
        longest = None
        counts_file = self._counts_file(params, listing, base_directory)
        if counts_file is not None:  # lazy reading with frame counts: checked without features
            from nndsl.data.lazy_kaldi import read_frame_counts

            longest = int(read_frame_counts(counts_file, listing.utterances).max())
        if listing.target_kind == "class":
            return DataSignature(longest_example=longest,
                input_shape=("T", feature_dim), input_kind="sequence", target_kind="class",
                num_classes=len(listing.class_names), example_count=count,
                description=f"Kaldi {listing.scp.name}: {count} utterances, {feature_dim} "
                f"features, one of {len(listing.class_names)} classes each")
        return DataSignature(
            input_shape=("T", feature_dim),
            input_kind="sequence",
            target_kind="label_sequence",
            num_classes=len(listing.class_names),
            example_count=count,
            description=f"Kaldi {listing.scp.name}: {count} utterances, {feature_dim} "
            f"features, {len(listing.class_names) - 1} symbols + blank",
            target_shape=("L",),
            longest_example=longest,
        )

    @staticmethod
    def _counts_file(params: KaldiParams, listing: KaldiListing,
                     base_directory: Path) -> Path | None:
        """With `lazy`, the utt2num_frames file: the one named, else one next to feats.scp."""
        if not params.lazy:
            return None
        if params.utt2num_frames is not None:
            return existing_file(base_directory, params.utt2num_frames, "utt2num_frames",
                                 "utt2num_frames file")
        beside = listing.scp.parent / "utt2num_frames"
        return beside if beside.is_file() else None

    def size_on_disk(self, params: KaldiParams, base_directory: Path) -> int:
        """Bytes of the ark files the scp points into (for `nndsl show`)."""
        from nndsl.data.lazy_store import directory_size

        listing = read_listing(params, base_directory)
        files = [_resolve_specifier(item, listing.scp, base_directory).rpartition(":")[0]
                 for item in listing.specifiers if not is_pipe_command(item)]
        return directory_size(files)

    def open(self, params: KaldiParams, base_directory: Path, seed: int) -> Any:
        """With `lazy: true`, a `KaldiStore` reading utterances by offset (else None: `load`)."""
        if not params.lazy:
            return None
        from nndsl.data.lazy_kaldi import open_store

        listing = read_listing(params, base_directory)
        feature_dim = self._signature(params, listing, base_directory,
                                      check_ark_ends=False).input_shape[1]
        locations = tuple(_resolve_specifier(specifier, listing.scp, base_directory)
                          for specifier in listing.specifiers)
        counts_file = self._counts_file(params, listing, base_directory)
        return open_store(listing, locations, int(feature_dim), counts_file, seed)

    def load(self, params: KaldiParams, base_directory: Path, seed: int) -> DataArrays:
        """All utterances, padded; checks feature sizes and that CTC can align every one."""
        import numpy as np

        listing = read_listing(params, base_directory)
        feature_dim = self._signature(params, listing, base_directory).input_shape[1]
        handles: dict = {}
        try:
            matrices = [_read_matrix(specifier, listing.scp, base_directory, handles)
                        for specifier in listing.specifiers]
        finally:
            for handle in handles.values():
                handle.close()
        for utterance, matrix, labels in zip(listing.utterances, matrices, listing.labels):
            if matrix.ndim != 2 or matrix.shape[1] != feature_dim:
                raise DataSourceError(f"{listing.scp}: utterance {utterance!r} has shape "
                                      f"{matrix.shape}, expected (frames, {feature_dim})",
                                      "feats", "all utterances need the same feature size")
            if not np.isfinite(matrix).all():
                frame, column = (int(axis[0]) for axis in np.nonzero(~np.isfinite(matrix)))
                value = matrix[frame, column]
                raise DataSourceError(f"{listing.scp}: utterance {utterance!r} holds NaN or "
                                      f"infinity ({value}) at frame {frame}, feature {column}",
                                      "feats", "clean the features (NaN and inf cannot be "
                                      "trained on) or drop the utterance")
            if listing.target_kind == "class":
                continue
            # CTC needs a frame per label plus a blank between equal neighbours.
            needed = len(labels) + sum(a == b for a, b in zip(labels, labels[1:]))
            if len(matrix) < needed:
                raise DataSourceError(f"{listing.scp}: utterance {utterance!r} has "
                                      f"{len(matrix)} frames, CTC needs {needed} for its "
                                      "transcript", "feats", "drop it or reduce subsampling")
        input_lengths = np.array([len(matrix) for matrix in matrices], dtype=np.int64)
        inputs = np.zeros((len(matrices), input_lengths.max(), feature_dim), dtype=np.float32)
        for row, matrix in enumerate(matrices):
            inputs[row, : len(matrix)] = matrix
        if listing.target_kind == "class":
            targets = np.array([labels[0] for labels in listing.labels], dtype=np.int64)
            return DataArrays(inputs=inputs, targets=targets, input_lengths=input_lengths,
                              class_names=listing.class_names, example_ids=listing.utterances)
        target_lengths = np.array([len(labels) for labels in listing.labels], dtype=np.int64)
        targets = np.zeros((len(matrices), max(1, target_lengths.max())), dtype=np.int64)
        for row, labels in enumerate(listing.labels):
            targets[row, : len(labels)] = labels
        return DataArrays(inputs=inputs, targets=targets, input_lengths=input_lengths,
                          target_lengths=target_lengths, class_names=listing.class_names,
                          example_ids=listing.utterances)
