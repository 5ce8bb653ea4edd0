"""Backend stage: which data module a spec's data gets, in-memory arrays or a lazy store.

In: the data source, the spec's `data:` section, the spec file's directory and the data seed.
Out: a `StreamingDataModule` when the source opens its files lazily (its `open` returns a store)
or the spec asks for length-bucketed batches (`batch_frames`, which in-memory data gets through
an `ArrayStore`); else the `ArrayDataModule` every source has always had. Online training
(`online: true`) gets either, its training loader in stream order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_data_module(source: Any, data: Any, base_directory: Path, seed: int,
                     shared_statistics: bool = False) -> Any:
    """The data module for `data` (a `DataSpec`); `shared_statistics` as `StreamingDataModule`
    takes it (a lazy store's statistics fitted by the trainer's processes together).

    Raises:
        DataSourceError: a user error in the files, an empty split, an example over the frame
            budget.
    """
    store = None
    opener = getattr(source, "open", None)  # optional in the data-source protocol
    if opener is not None:
        store = opener(data.options, base_directory, seed)
    batch_frames = getattr(data, "batch_frames", None)
    online = getattr(data, "online", False)  # stream order: neither module shuffles then
    if store is None and batch_frames is None:
        from nndsl.backend.datamodule import ArrayDataModule

        arrays = source.load(data.options, base_directory, seed)
        return ArrayDataModule(arrays, data.batch_size, data.valid_fraction, data.test_fraction,
                               seed, data.num_workers, data.standardize, shuffle=not online)
    from nndsl.backend.streaming import StreamingDataModule

    if store is None:
        from nndsl.data.lazy_store import ArrayStore

        store = ArrayStore(source.load(data.options, base_directory, seed))
    return StreamingDataModule(store, data.batch_size, data.valid_fraction, data.test_fraction,
                               seed, data.num_workers, batch_frames, data.standardize,
                               shared_statistics, shuffle=not online)
