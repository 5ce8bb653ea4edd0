"""Resolve stage: where fragments live.

`std:blocks/blstm_projection` names `blocks/blstm_projection.yaml` in the standard library, which
ships inside the package (`nndsl.stdlib`, found with importlib.resources so an installed wheel
works); any other name is a path relative to the file that uses it.

A spec from someone else must not make nndsl read (and echo in an error) any file it likes, so a
fragment is a YAML file (`.yaml` or `.yml`; a name without a suffix means `.yaml`) inside the
folder of the spec being compiled, symbolic links followed; `std:` names stay in the library.
`reference_problem` judges the name before any file is touched, `outside_folder` the file found.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from nndsl.records import Record

STD_PREFIX = "std:"
YAML_SUFFIXES = (".yaml", ".yml")


class FragmentLocation(Record):
    """A resolved fragment reference: a display name, the readable resource and its origin label."""

    name: str
    resource: Traversable | Path
    origin: str

    @property
    def display_path(self) -> str:
        return self.name if self.origin.startswith(STD_PREFIX) else str(self.resource)


def stdlib_root() -> Traversable:
    """The root folder of the shipped standard library."""
    return files("nndsl.stdlib")


def locate_fragment(reference: str, using_file: str) -> FragmentLocation | None:
    """Find the fragment a `use:` entry names, or None when there is no such file.

    Args:
        reference: `std:<folder>/<name>` (".yaml" optional) or a path.
        using_file: the file holding the `use:` entry; relative paths start from its folder.
    """
    try:
        return _locate(reference, using_file)
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte, ...
        return None


def reference_problem(reference: str) -> tuple[str, str, str] | None:
    """(code, message, hint) when a `use:` entry is refused by its name alone, else None:
    E210 for a name with a suffix other than .yaml/.yml, E211 for an absolute path or a `std:`
    name that climbs out of the library."""
    if reference.startswith(STD_PREFIX):
        parts = reference[len(STD_PREFIX):].strip("/").split("/")
        if any(part in ("", ".", "..") or "\\" in part for part in parts):
            return ("E211", f"`{reference}` climbs out of the standard library",
                    "`nndsl ls` lists the standard fragments")
        return None
    path = Path(reference)
    if path.suffix and path.suffix not in YAML_SUFFIXES:
        return ("E210", f"`use:` takes YAML fragments (.yaml or .yml), not `{path.name}`; the file "
                "was not read",
                "a fragment is a YAML file with `fragment: block | preset | schedule`")
    if path.is_absolute() or reference.startswith("~"):
        return ("E211", f"fragment `{reference}` is an absolute path; fragments are found relative "
                "to the spec, inside its folder", "copy the fragment next to the spec or below it")
    return None


def outside_folder(reference: str, using_file: str, folder: Path) -> str | None:
    """Why the file a relative `use:` entry names may not be read, or None: with symbolic links
    followed, it lies outside `folder` (the top-level spec's folder) or is not a YAML file. Decided
    whether or not the file exists, so an entry cannot probe for files elsewhere."""
    if reference.startswith(STD_PREFIX):
        return None
    try:
        path = Path(using_file).parent / reference
        if path.suffix not in YAML_SUFFIXES:  # as `_locate` reads it
            path = path.with_name(path.name + ".yaml")
        target = path.resolve()
        inside = target.is_relative_to(folder.resolve())
    except (OSError, ValueError, RuntimeError):  # a link loop, a name the system refuses
        return None  # not found either: `locate_fragment` reports it (E201)
    if not inside:
        return "lies outside the spec's folder"
    if target.suffix and target.suffix not in YAML_SUFFIXES:
        return "is a link to a file that is not YAML (.yaml or .yml)"
    return None


def _locate(reference: str, using_file: str) -> FragmentLocation | None:
    if reference.startswith(STD_PREFIX):
        relative = reference[len(STD_PREFIX):].strip("/")
        if not relative.endswith(".yaml"):
            relative += ".yaml"
        resource: Traversable = stdlib_root()
        for part in relative.split("/"):
            resource = resource / part
        if not resource.is_file():
            return None
        return FragmentLocation(reference, resource, STD_PREFIX + relative[: -len(".yaml")])
    path = Path(reference)
    if not path.is_absolute():
        path = Path(using_file).parent / path
    if path.suffix not in YAML_SUFFIXES:  # `reference_problem` refused other suffixes
        path = path.with_name(path.name + ".yaml")
    if not path.is_file():
        return None
    return FragmentLocation(reference, path, "fragment")


def stdlib_names() -> list[str]:
    """Every `std:` fragment name, sorted (for `nndsl ls` and did-you-mean hints)."""
    names: list[str] = []

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.name.startswith("__"):
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".yaml"):
                names.append(STD_PREFIX + prefix + entry.name[: -len(".yaml")])

    walk(stdlib_root(), "")
    return sorted(names)


def fragment_summary(text: str) -> str:
    """A fragment's `doc:` line, for listings; without one, its header comment's first
    sentence (the comment may run over several lines)."""
    import yaml  # listings only; the fragment has been parsed as YAML before, so it is trusted

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("doc"), str):
        return document["doc"].strip()
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        comment.append(stripped.lstrip("#").strip())
    header = " ".join(comment)
    end = header.find(". ")
    return header if end < 0 else header[: end + 1]
