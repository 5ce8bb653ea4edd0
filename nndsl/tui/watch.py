"""TUI: noticing that the spec (or a fragment file it uses) changed on disk.

In: the paths to watch. Out: `changed()` says whether any of them changed since the last call.
The app polls this from a textual timer about twice a second: polling `stat` is cheap, needs no
extra dependency (no inotify/watchdog) and behaves the same on every platform and file system.
A file counts as changed when its modification time, size or existence changes, so editors that
save by writing a new file and renaming it over the old one are noticed too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

POLL_SECONDS = 0.5

Stamp = tuple[int, int] | None


def stamp(path: Path) -> Stamp:
    """(mtime in ns, size) of a file, or None when it cannot be read (deleted, mid-rename)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


class FileWatcher:
    """Remembers a stamp per watched file and reports changes.

    Args:
        paths: the files to watch; more can be set later with `watch` (fragments a spec
            starts to `use:` after an edit).
    """

    def __init__(self, paths: Iterable[str | Path]):
        self.stamps: dict[Path, Stamp] = {}
        self.watch(paths)

    def watch(self, paths: Iterable[str | Path]) -> None:
        """Watch exactly these files from now on, keeping the stamps of those already watched."""
        wanted = {Path(path) for path in paths}
        self.stamps = {
            path: self.stamps[path] if path in self.stamps else stamp(path) for path in wanted
        }

    def changed(self) -> bool:
        """Whether any watched file changed since the last call (and remember the new stamps)."""
        changed = False
        for path, old in self.stamps.items():
            new = stamp(path)
            if new != old:
                self.stamps[path] = new
                changed = True
        return changed


def local_sources(spec_path: str | Path, sources: Iterable[str]) -> list[Path]:
    """The spec plus the source files of a compiled spec that live on disk.

    `Compiled.sources` is keyed by file name: the spec, user fragment files (paths) and stdlib
    fragments (`std:…`, shipped inside the package, which do not change while the UI runs).
    """
    paths = [Path(spec_path)]
    for name in sources:
        if name.startswith("std:") or name.startswith("--set"):
            continue
        path = Path(name)
        if path not in paths and path.is_file():
            paths.append(path)
    return paths
