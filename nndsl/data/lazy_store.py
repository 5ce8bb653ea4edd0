"""Data stage: examples read when a batch asks for them (`ExampleStore`), for data sets larger
than memory.

In: a data source that opens its files lazily (`kaldi` with `lazy: true`, `npy_dir`, `arrow`) or
`DataArrays` already in memory. Out: an `ExampleStore`: the example count, every example's input
length known without reading its features (length-bucketed batching needs them), and
`examples(indices)` returning one dict of numpy arrays per example, with variable-length inputs
and label sequences cut to their own lengths, exactly as the in-memory path cuts them.

A store is pickled into loader worker processes and into spawned DDP processes, so it holds file
names, never open files: each process opens what it reads on first use (`_handles` is dropped in
`__getstate__`). numpy is imported inside functions: `nndsl validate` imports this module.
"""

from __future__ import annotations

from typing import Any

Example = dict[str, Any]


class ExampleStore:
    """What every store provides; subclasses fill in `examples` and the attributes.

    Attributes:
        count: examples in the store.
        input_lengths: (count,) int64 frames per example, or None for fixed-size inputs.
        has_target_lengths: examples carry "target_lengths" (label sequences).
        class_names: one name per class or label, or None.
        feature_names: one name per input feature, or None.
        example_ids: one identifier per example (utterance ids), or None.
        test_indices: rows the source fixes as its test set, or None.
        lexicon, grammar: word decoding tables (no lazy source has them; kept for the data module).
    """

    count: int = 0
    input_lengths: Any = None
    has_target_lengths: bool = False
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    example_ids: tuple[str, ...] | None = None
    test_indices: Any = None
    lexicon: Any = None
    grammar: Any = None

    def __len__(self) -> int:
        return self.count

    def examples(self, indices: Any) -> list[Example]:
        """The examples at `indices` (integers), in that order: dicts with "inputs", "targets"
        and, where the data has them, "input_lengths" / "target_lengths" (0-d int64 arrays)."""
        raise NotImplementedError

    def example(self, index: int) -> Example:
        """One example (see `examples`)."""
        return self.examples([index])[0]

    def class_targets(self) -> Any:
        """Every example's class index as one int64 array (for class counts), or None when the
        targets are not one class per example. Stores read only the target column."""
        return None

    def close(self) -> None:
        """Close what this process opened (a later read opens it again)."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_handles", None)  # open files stay with the process that opened them
        return state


def cut_example(inputs: Any, targets: Any, input_length: Any = None,
                target_length: Any = None) -> Example:
    """One example dict, padding cut away as `ArrayDataset` cuts it."""
    import numpy as np

    example: Example = {"inputs": inputs, "targets": targets}
    if input_length is not None:
        length = int(input_length)
        example["inputs"] = inputs[:length]
        example["input_lengths"] = np.int64(length)
    if target_length is not None:
        length = int(target_length)
        example["targets"] = targets[:length]
        example["target_lengths"] = np.int64(length)
    return example


class ArrayStore(ExampleStore):
    """A store over `DataArrays` already in memory (the reference a lazy store must equal, and
    what length-bucketed batching uses for sources that load whole).

    Args:
        arrays: the loaded data set.
    """

    def __init__(self, arrays: Any) -> None:
        self.arrays = arrays
        self.count = len(arrays)
        self.input_lengths = arrays.input_lengths
        self.has_target_lengths = arrays.target_lengths is not None
        self.class_names = arrays.class_names
        self.feature_names = arrays.feature_names
        self.example_ids = arrays.example_ids
        self.test_indices = arrays.test_indices
        self.lexicon, self.grammar = arrays.lexicon, arrays.grammar

    def examples(self, indices: Any) -> list[Example]:
        arrays = self.arrays
        return [cut_example(arrays.inputs[index], arrays.targets[index],
                            None if arrays.input_lengths is None else arrays.input_lengths[index],
                            None if arrays.target_lengths is None
                            else arrays.target_lengths[index])
                for index in (int(index) for index in indices)]

    def class_targets(self) -> Any:
        targets = self.arrays.targets
        if self.has_target_lengths or getattr(targets, "ndim", 0) != 1:
            return None
        return targets.astype("int64")


def directory_size(paths: Any) -> int:
    """Bytes on disk of the given files (for `nndsl show`), each counted once."""
    from pathlib import Path

    seen = {Path(path).resolve() for path in paths}
    return sum(path.stat().st_size for path in seen if path.is_file())


def format_bytes(size: int) -> str:
    """1536 -> '1.5 KB' (powers of 1024, as memory budgets are written)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns at GB
