"""TUI: `nndsl tui SPEC`, an interactive view of a spec that revalidates as the file is saved.

In: a spec path. Out: a textual application (`nndsl.tui.app.NndslApp`) showing the YAML with
its diagnostics, the graph with cuts and per-phase layer states, and the plan; exit status 0 on
a clean quit, 2 when the file does not exist. It runs the front end only (`compile_spec`), so it
never imports torch or Lightning.

Modules: `app` (layout, keys, reload), `source_view` (YAML), `panes` (status, diagnostics, phase
bar), `graph_view`, `plan_view`, `phase_steps` (what `n` / `p` step through), `help`, `watch`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nndsl.cli.exits import EXIT_OK, EXIT_USER_ERROR


def run_tui(spec_path: str | Path) -> int:
    """Run the UI on `spec_path` until the user quits.

    Returns:
        0 after `q`; 2 (with a one-line message on stderr) when the file does not exist.
    """
    path = Path(spec_path)
    if not path.is_file():
        what = "is a directory, not a spec file" if path.is_dir() else "no such file"
        print(f"nndsl tui: {spec_path}: {what}", file=sys.stderr)
        return EXIT_USER_ERROR
    from nndsl.tui.app import NndslApp

    result = NndslApp(str(spec_path)).run()
    return EXIT_OK if result is None else int(result)


__all__ = ["run_tui"]
