"""Data stage: the registry of data sources, and the records a source hands to later stages.

In: a source name and the source-specific keys of a spec's `data:` section (everything except the
common keys the spec stage validates itself). Out: the source's validated pydantic `Params`, a
cheap `DataSignature` (shapes and kinds, for the ir and check stages) and, at run time, the
`DataArrays` the backend turns into tensors.

A source is a record class registered with `@data_source("name")`. Built-in sources live in
sibling modules that are imported on first lookup; third-party sources are found through the
`nndsl.data` entry-point group, also on first lookup, so nobody edits nndsl to add one. This module
imports neither numpy nor torch: `nndsl validate` must stay fast.

How the spec stage uses it::

    source = DATA_SOURCES.get(name)                           # UnknownDataSourceError (a KeyError)
    params = source.Params.model_validate(remaining_keys)     # pydantic ValidationError
    signature = source.signature(params, base_directory)      # DataSourceError
    arrays = source.load(params, base_directory, seed=seed)   # run stage only; DataSourceError
    line = source.describe(params, base_directory)            # `nndsl show` only; optional
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from nndsl.records import Record
from nndsl.registry import Registry, UnknownName

__all__ = [
    "DATA_SOURCES",
    "DataArrays",
    "DataSignature",
    "DataSource",
    "DataSourceError",
    "DataSourceRegistry",
    "InputKind",
    "TargetKind",
    "UnknownDataSourceError",
    "data_source",
]

InputKind = Literal["dense", "sequence", "tokens"]
TargetKind = Literal["class", "multilabel", "label_sequence", "regression", "next_token"]


class DataSourceError(Exception):
    """A user error in a data source's files or parameters (missing file, bad column, ...).

    The spec or check stage turns it into a located `Diagnostic`: `field` names the offending key
    of the `data:` section (such as "path"), so the diagnostic can point at that key's YAML.

    Attributes:
        message: what is wrong, naming the file.
        field: the `data:` key the problem belongs to, or None for the section as a whole.
        hint: what the user can do about it.
        code: the diagnostic code, E412 ("data source problem") unless a source says more.
    """

    def __init__(self, message: str, field: str | None = None, hint: str | None = None,
                 code: str = "E412") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint
        self.code = code


class DataSignature(Record):
    """What a source yields, known before any array is loaded.

    Attributes:
        input_shape: one example's input shape without the batch axis; "T" marks a variable
            time axis, e.g. (64,), (1, 8, 8), ("T", 40), ("T",) for token sequences.
        input_kind: "dense" (fixed shape), "sequence" (variable "T" axis) or "tokens" (integers).
        target_kind: "class", "multilabel", "label_sequence" (CTC), "regression" or "next_token".
        num_classes: classes, labels (for CTC including the blank at index 0), or None.
        vocabulary_size: token vocabulary for "tokens" inputs, else None.
        example_count: examples before splitting, or None when unknown without loading.
        description: one line for `nndsl show` (a source's `describe` may say more).
        target_shape: one example's target shape without the batch axis; () for a class index.
        entropy_rate: the source's entropy in nats per token where known without computation
            (a language model's perplexity cannot go below exp(entropy_rate)).
        fixed_test_count: examples the source itself holds out as the test set (then the spec
            must leave `test_fraction` at 0), or None.
        word_lexicon: the source gives a lexicon and grammar with its arrays, and each
            example's words (the `word_accuracy` metric decodes words with them).
        longest_example: the most frames of one example, where metadata tells it without
            reading features (a frame budget `batch_frames` below it is an error), else None.
    """

    input_shape: tuple[int | str, ...]
    input_kind: InputKind
    target_kind: TargetKind
    num_classes: int | None = None
    vocabulary_size: int | None = None
    example_count: int | None = None
    description: str = ""
    target_shape: tuple[int | str, ...] = ()
    entropy_rate: float | None = None
    fixed_test_count: int | None = None
    word_lexicon: bool = False
    longest_example: int | None = None


class DataArrays(Record):
    """A loaded data set as numpy arrays, examples on the first axis.

    Variable-length data is padded: `input_lengths` gives each example's valid frames and
    `target_lengths` each label sequence's valid labels. Names are optional and only descriptive.

    Attributes:
        inputs: (examples, ...) features or token ids.
        targets: (examples, ...) class indices, multi-hot rows, padded label sequences, values.
        input_lengths: (examples,) integers, or None for fixed-size inputs.
        target_lengths: (examples,) integers, or None.
        class_names: one name per class or label index (index 0 is the blank for CTC).
        feature_names: one name per input feature (CSV columns).
        example_ids: one identifier per example (Kaldi utterance ids).
        test_indices: rows the source fixes as its test set (family relations), or None.
        words: (examples, W) each example's word indices, zero-padded, or None.
        word_lengths: (examples,) words per example, with `words`.
        lexicon: each word's label (phone) indices, with `words`.
        grammar: the words allowed after each word, with `words`.
    """

    inputs: Any
    targets: Any
    input_lengths: Any = None
    target_lengths: Any = None
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    example_ids: tuple[str, ...] | None = None
    test_indices: Any = None
    words: Any = None
    word_lengths: Any = None
    lexicon: tuple[tuple[int, ...], ...] | None = None
    grammar: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        # A mismatch here is a bug in a source's `load`, which must report user errors itself.
        count = len(self.inputs)
        for label in ("targets", "input_lengths", "target_lengths", "example_ids", "words",
                      "word_lengths"):
            value = getattr(self, label)
            if value is not None and len(value) != count:
                raise ValueError(f"DataArrays: {label} has {len(value)} rows, inputs {count}")

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, indices: Any) -> DataArrays:
        """The examples at `indices` (an integer array), in that order, without `test_indices`."""

        def pick(value: Any) -> Any:
            return None if value is None else value[indices]

        example_ids = self.example_ids
        if example_ids is not None:
            example_ids = tuple(example_ids[int(index)] for index in indices)
        return DataArrays(
            inputs=self.inputs[indices],
            targets=self.targets[indices],
            input_lengths=pick(self.input_lengths),
            target_lengths=pick(self.target_lengths),
            class_names=self.class_names,
            feature_names=self.feature_names,
            example_ids=example_ids,
            words=pick(self.words),
            word_lengths=pick(self.word_lengths),
            lexicon=self.lexicon,
            grammar=self.grammar,
        )


class DataSource:
    """What a registered record provides; subclassing is optional (the registry duck-types).

    Attributes:
        name: set by the registry to the registered name.
        Params: a pydantic model of the source-specific keys, `extra="forbid", frozen=True`.
        doc: one line for `nndsl ls`.
    """

    name: str = ""
    Params: ClassVar[type[BaseModel]]
    doc: ClassVar[str] = ""

    def signature(self, params: Any, base_directory: Path) -> DataSignature:
        """Shapes and kinds without loading arrays; may check that files exist.

        Raises:
            DataSourceError: a user error, such as a missing file.
        """
        raise NotImplementedError

    def load(self, params: Any, base_directory: Path, seed: int) -> DataArrays:
        """The whole data set as numpy arrays (splitting happens later).

        Raises:
            DataSourceError: a user error found in the files.
        """
        raise NotImplementedError

    # Optional: `open(params, base_directory, seed)` returns an `ExampleStore` that reads
    # examples when batches ask for them (`nndsl.data.lazy_store`), or None to use `load`.

    def describe(self, params: Any, base_directory: Path) -> str:
        """The line `nndsl show` prints for the data; optional, and may compute what the cheap
        signature leaves out (such as a source's entropy rate). Defaults to the description."""
        return self.signature(params, base_directory).description


# Built-in sources register themselves when their module is imported; importing them on first
# lookup rather than here keeps this module importable from theirs without a cycle.
# Built-in sources by name and the module that registers each: a lookup imports only that
# module, so validating a spec pays for the one source it uses (`nndsl validate` start-up time).
BUILTIN_SOURCES = {
    "digits": "nndsl.data.digits",
    "family_relations": "nndsl.data.family_source",
    "synthetic_speech": "nndsl.data.synthetic_speech",
    "synthetic_speakers": "nndsl.data.synthetic_speakers",
    "synthetic_phones": "nndsl.data.synthetic_phones",
    "markov_text": "nndsl.data.markov_text",
    "npz": "nndsl.data.files",
    "csv": "nndsl.data.csv_table",
    "kaldi": "nndsl.data.kaldi",
    "spoken_words": "nndsl.data.spoken_words",
    "npy_dir": "nndsl.data.lazy_npy",
    "arrow": "nndsl.data.lazy_arrow",
}
BUILTIN_MODULES = tuple(dict.fromkeys(BUILTIN_SOURCES.values()))

ENTRY_POINT_GROUP = "nndsl.data"


class UnknownDataSourceError(UnknownName):
    """A spec names a data source nobody registered (the attributes of `UnknownName`)."""

    def __init__(self, name: str, matches: tuple[str, ...], known: tuple[str, ...],
                 plugin_failures: tuple[str, ...] = ()) -> None:
        super().__init__("data source", name, matches, known, plugin_failures)


class DataSourceRegistry(Registry[DataSource]):
    """Data sources by name: built-ins, decorator registrations and entry-point plugins, with the
    lookup rules of every nndsl registry (`nndsl.registry`).

    Args:
        builtin_modules: modules imported on first lookup; their decorators register sources.
        entry_point_group: the `importlib.metadata` group searched on first lookup.
    """

    def __init__(self, builtin_modules: tuple[str, ...] = BUILTIN_MODULES,
                 entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        super().__init__("data source", protocol=("Params", "doc", "signature", "load"),
                         builtin_modules=builtin_modules, builtin_names=BUILTIN_SOURCES,
                         entry_point_group=entry_point_group, unknown=UnknownDataSourceError)

    #: Class decorator: `@registry.data_source("digits")` registers the class below it.
    data_source = Registry.decorator


DATA_SOURCES = DataSourceRegistry()
"""The process-wide registry the spec stage consults."""

data_source = DATA_SOURCES.data_source
"""Register a record class in `DATA_SOURCES`: `@data_source("name")`."""
