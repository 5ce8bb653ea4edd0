"""Resolve stage: where fragments live.

`std:blocks/blstm_projection` names `blocks/blstm_projection.yaml` in the standard library, which
ships inside the package (`nndsl.stdlib`, found with importlib.resources so an installed wheel
works); any other name is a path relative to the file that uses it.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from nndsl.records import Record

STD_PREFIX = "std:"


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
    if not path.is_file() and path.suffix != ".yaml" and path.with_suffix(".yaml").is_file():
        path = path.with_suffix(".yaml")
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
