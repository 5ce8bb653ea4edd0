"""Data stage: what `nndsl show` says about the data's footprint: its size on disk and the batches
each training epoch will run.

In: the data source, the spec's `data:` section, the spec file's directory and the data seed.
Out: one line such as "1.2 GB on disk; 312 training batches per epoch (batch_frames 20000)".
The training split is the one training will use (`nndsl.data.splits`, same seed); with
`batch_frames` its batches are planned exactly as training plans them (`nndsl.data.bucketing`)
from the examples' lengths: a lazy source reads them from its metadata (Parquet is converted for
that), any other source loads its data once for them; without it, only the split's arithmetic
is needed. No torch; numpy inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nndsl.data.lazy_store import ArrayStore, format_bytes


def size_on_disk(source: Any, params: Any, base_directory: Path, store: Any) -> int | None:
    """Bytes of the data's files: the store's, the source's own answer, or a `path` file's."""
    if store is not None and hasattr(store, "size_on_disk"):
        return store.size_on_disk()
    if hasattr(source, "size_on_disk"):
        return source.size_on_disk(params, base_directory)
    path = getattr(params, "path", None)
    if isinstance(path, str):
        file = base_directory / Path(path).expanduser()
        if file.is_file():
            return file.stat().st_size
        if file.is_dir():  # an npy directory or a saved data set, read whole (`lazy: false`)
            from nndsl.data.lazy_store import directory_size

            return directory_size(file.rglob("*"))
    return None  # generated data (digits, synthetic sets) has no files


def data_plan_line(source: Any, data: Any, base_directory: Path, seed: int,
                   signature: Any) -> str:
    """The line for `nndsl show` (see the module docstring); DataSourceError propagates."""
    from nndsl.data.bucketing import bucket_batches
    from nndsl.data.splits import split_indices

    store = None
    if data.batch_frames is not None:  # planning needs every example's length
        opener = getattr(source, "open", None)
        store = opener(data.options, base_directory, seed) if opener is not None else None
        if store is None:
            store = ArrayStore(source.load(data.options, base_directory, seed))
    parts = []
    size = size_on_disk(source, data.options, base_directory, store)
    if size is not None:
        parts.append(f"{format_bytes(size)} on disk")
    if store is not None:
        rows = split_indices(len(store), data.valid_fraction, data.test_fraction, seed,
                             fixed_test=store.test_indices)
        train = len(rows.train)
    elif signature.example_count is not None:
        # The split's arithmetic (`nndsl.data.splits`) without the data: a source's fixed test
        # set replaces test_fraction.
        count = signature.example_count
        held_out = signature.fixed_test_count or round(count * data.test_fraction)
        train = count - held_out - round(count * data.valid_fraction)
    else:
        train = None
    if data.batch_frames is not None:
        batches = len(bucket_batches(store.input_lengths[rows.train], data.batch_frames))
        parts.append(f"{batches} training batches per epoch (batch_frames {data.batch_frames}, "
                     f"{train} examples)")
    elif train is not None:
        parts.append(f"{-(-train // data.batch_size)} training batches per epoch ({train} "
                     f"examples, batch_size {data.batch_size})")
    if store is not None:
        store.close()
    return "; ".join(parts)
