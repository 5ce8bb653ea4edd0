"""Run stage: what `--resume RUN_DIR` continues, checked against what the command line gives.

In: a run directory (its `run.json`: the spec file's absolute path, the `--set` overrides and
the resolved spec's hash; its `spec.yaml`: the resolved spec) and, optionally, a SPEC and
overrides given with `--resume`. Out: the compiled spec to continue with, or `RunDirectoryError`
(exit 2) saying how what was given differs from the run: which file, which overrides, which
resolved values.

Without a SPEC the run's own spec file is compiled again with its recorded overrides (plus any
given, which must not change it), found from any working directory because `run.json` records
its absolute path. A run's resolved spec must come out the same as when it started (its hash);
otherwise resuming would mix two experiments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nndsl.api import Valid, compile_spec
from nndsl.run.rundir import RunDirectoryError, read_json, spec_text
from nndsl.source import to_plain

#: How many differing values a refusal lists before summarising the rest.
_SHOWN_DIFFERENCES = 8


def compile_resumed(directory: Path, spec_path: str | None, overrides: list[str]) -> Valid:
    """The compiled spec of the run in `directory`, after checking what was given against it.

    Raises:
        RunDirectoryError: `directory` is not a run, its spec file is gone (and no SPEC was
            given), or the spec resolved from what was given differs from the run's.
        SpecError: the spec given (or the run's own, recompiled) has errors.
    """
    if not (directory / "run.json").exists():
        raise RunDirectoryError(f"`{directory}` is not an nndsl run directory (no run.json)")
    try:
        record = read_json(directory / "run.json")
        recorded_overrides = list(record.get("overrides", []))
        run_spec, record["spec_hash"] = Path(record["spec_path"]), str(record["spec_hash"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise RunDirectoryError(f"`{directory / 'run.json'}` is damaged ({type(error).__name__}: "
                                f"{error}); this run cannot be resumed") from None
    if spec_path is None:
        if not run_spec.is_file():
            raise RunDirectoryError(f"this run's spec `{run_spec}` no longer exists; give the spec "
                                    f"as `nndsl train SPEC --resume {directory}`")
        given_path, given_overrides = str(run_spec), [*recorded_overrides, *overrides]
    else:
        given_path, given_overrides = spec_path, overrides
    compiled = compile_spec(given_path, given_overrides).raise_for_errors()
    resolved = to_plain(compiled.resolved.root)
    if spec_text(resolved)[1] == record["spec_hash"]:
        return compiled
    raise RunDirectoryError(_refusal(directory, record, run_spec, spec_path, overrides, resolved))


def _refusal(directory: Path, record: dict[str, Any], run_spec: Path, spec_path: str | None,
             overrides: list[str], resolved: Any) -> str:
    """Why the run cannot be resumed with what was given: file, overrides, differing values."""
    if spec_path is None and not overrides:
        lines = [f"cannot resume `{directory}`: its spec `{run_spec}` changed since the run "
                 "started"]
    else:
        lines = [f"cannot resume `{directory}`: the spec and overrides given differ from the run's"]
        if spec_path is not None and Path(spec_path).resolve() != run_spec.resolve():
            lines.append(f"  spec file: `{spec_path}` given, the run's is `{run_spec}`")
        run_overrides = list(record.get("overrides", []))
        given = overrides if spec_path is not None else [*run_overrides, *overrides]
        if given != run_overrides:
            lines.append(f"  --set: {_listed(given)} given, the run used {_listed(run_overrides)}")
    differences = _differences(_stored_spec(directory), resolved)
    if differences:
        lines.append("  resolved values that differ (the run's → given):")
        lines.extend(f"    {path}: {_shown(old)} → {_shown(new)}"
                     for path, old, new in differences[:_SHOWN_DIFFERENCES])
        if len(differences) > _SHOWN_DIFFERENCES:
            lines.append(f"    … and {len(differences) - _SHOWN_DIFFERENCES} more")
    lines.append("resume with the run's own spec and overrides (`nndsl train --resume RUN_DIR` "
                 "finds them), or start a new run")
    return "\n".join(lines)


def _stored_spec(directory: Path) -> Any:
    """The run's resolved spec as saved in its `spec.yaml` (None if unreadable)."""
    try:
        return yaml.safe_load((directory / "spec.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, the run's value, the given value) for every value that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(key for key in new if key not in old)]:
            child = f"{path}.{key}" if path else str(key)
            found.extend(_differences(old.get(key, _MISSING), new.get(key, _MISSING), child))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [difference for index, (left, right) in enumerate(zip(old, new))
                for difference in _differences(left, right, f"{path}[{index}]")]
    return [] if old == new else [(path or "(the whole spec)", old, new)]


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


_MISSING = _Missing()


def _shown(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("\n...").removesuffix(" ...")
    return text if len(text) <= 60 else text[:57] + "…"


def _listed(overrides: list[str]) -> str:
    return ", ".join(f"`{override}`" for override in overrides) if overrides else "none"
