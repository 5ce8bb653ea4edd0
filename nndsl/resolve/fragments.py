"""Resolve stage: loading the fragments a spec `use:`s.

A fragment is a YAML file with a header comment and `fragment: block | preset | schedule`:

* a **block** (`params:` with defaults, `layers:`) becomes available to `{block: NAME, ...}` layer
  entries under the file's stem name;
* a **preset** or **schedule** holds `spec:`, a partial spec laid underneath the user's spec.

Fragments may `use:` other fragments; cycles are reported (E202) with the chain. Only YAML files
inside the spec's folder are read (E210, E211; see `library`), and every fragment remembers the
spec's `use:` entry that brought it in, so its errors are shown from there first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nndsl.diagnostics import DiagnosticList, Span, did_you_mean
from nndsl.records import Record
from nndsl.resolve.library import (FragmentLocation, locate_fragment, outside_folder,
                                   reference_problem, stdlib_names)
from nndsl.source import MappingNode, ScalarNode, SequenceNode, parse_document, read_text

FRAGMENT_KINDS = ("block", "preset", "schedule")
_FRAGMENT_KEYS = {"block": {"fragment", "doc", "use", "params", "layers"},
                  "preset": {"fragment", "doc", "use", "spec"},
                  "schedule": {"fragment", "doc", "use", "spec"}}


class BlockDefinition(Record):
    """A reusable group of layers with named parameters and their defaults."""

    name: str
    params: MappingNode
    layers: SequenceNode
    origin: str


@dataclass
class FragmentSet:
    """What the `use:` entries of a spec (and of its fragments) brought in."""

    blocks: dict[str, BlockDefinition] = field(default_factory=dict)
    layers_under: list[MappingNode] = field(default_factory=list)  # partial specs, lowest first
    sources: dict[str, str] = field(default_factory=dict)  # file -> text, for code frames
    used: list[str] = field(default_factory=list)
    folder: Path = Path()  # the spec's folder: no fragment is read from outside it
    included_from: dict[str, Span] = field(default_factory=dict)  # file -> the spec's `use:` entry


def load_fragments(root: MappingNode, file: str, diagnostics: DiagnosticList) -> FragmentSet:
    """Load every fragment reachable from `root`'s `use:` list; diagnostics inside a fragment
    are tied to the spec's `use:` entry that brought it in (`DiagnosticList.included_from`)."""
    fragments = FragmentSet(folder=Path(file).parent)
    _load_uses(root, file, fragments, diagnostics, chain=(file,))
    diagnostics.included_from.update(fragments.included_from)
    return fragments


def _load_uses(root: MappingNode, file: str, fragments: FragmentSet, diagnostics: DiagnosticList,
               chain: tuple[str, ...], entry: Span | None = None) -> None:
    uses = root.get("use")
    if uses is None:
        return
    items = uses.items if isinstance(uses, SequenceNode) else (uses,)
    for item in items:
        if not isinstance(item, ScalarNode) or not isinstance(item.value, str):
            diagnostics.add("E303", "`use:` entries are fragment names such as `std:blocks/mlp`",
                            item.span, "write each fragment as a string")
            continue
        refusal = reference_problem(item.value)
        if refusal is not None:
            diagnostics.add(refusal[0], refusal[1], item.span, refusal[2])
            continue
        problem = outside_folder(item.value, file, fragments.folder)
        if problem is not None:
            diagnostics.add("E211", f"fragment `{item.value}` {problem}; nndsl does not read it",
                            item.span, "fragments must be YAML files inside the spec's folder "
                            "(symbolic links are followed)")
            continue
        location = locate_fragment(item.value, file)
        if location is None:
            hint = (did_you_mean(item.value, stdlib_names()) if item.value.startswith("std:")
                    else None)
            diagnostics.add("E201", f"fragment `{item.value}` not found", item.span,
                            hint or "`nndsl ls` lists the standard fragments; paths are relative "
                                    "to this file")
            continue
        identity = str(location.resource)
        if identity in chain:
            names = " -> ".join(PurePosixPath(link).name for link in (*chain, identity))
            diagnostics.add("E202", f"fragments use each other in a cycle: {names}", item.span,
                            "remove one of the `use:` entries in the cycle")
            continue
        if identity in fragments.used:
            continue  # already loaded through another path: loading twice would only repeat it
        _load_one(location, item.span, fragments, diagnostics, (*chain, identity),
                  entry or item.span)


def _load_one(location: FragmentLocation, used_at: Span, fragments: FragmentSet,
              diagnostics: DiagnosticList, chain: tuple[str, ...], entry: Span) -> None:
    fragments.used.append(chain[-1])
    fragments.included_from.setdefault(location.display_path, entry)
    text = read_text(location.resource, location.origin, diagnostics, used_at)  # type: ignore
    if text is None:
        return  # E107, placed at the `use:` entry that names the unreadable file
    file = location.display_path
    document = parse_document(text, file, diagnostics, origin=location.origin)
    fragments.sources[file] = text
    if document is None:
        return
    root = document.root
    kind_node = root.get("fragment")
    kind = kind_node.value if isinstance(kind_node, ScalarNode) else None
    if kind not in FRAGMENT_KINDS:
        span = kind_node.span if kind_node else root.span
        diagnostics.add("E205", f"`{location.name}` is not a fragment: it needs `fragment: block`, "
                        "`preset` or `schedule`", span, "a spec cannot be used as a fragment")
        return
    for key, key_span in root.key_spans.items():
        if key not in _FRAGMENT_KEYS[kind]:
            diagnostics.add("E205", f"unknown key `{key}` in a {kind} fragment", key_span,
                            did_you_mean(key, _FRAGMENT_KEYS[kind]) or
                            f"a {kind} fragment has: {', '.join(sorted(_FRAGMENT_KEYS[kind]))}")
    _load_uses(root, file, fragments, diagnostics, chain, entry)
    if kind == "block":
        params = root.get("params") or MappingNode({}, root.span)
        layers = root.get("layers")
        if not isinstance(params, MappingNode) or not isinstance(layers, SequenceNode):
            diagnostics.add("E205", f"block `{location.name}` needs `params:` as a mapping and "
                            "`layers:` as a list", root.span)
            return
        name = PurePosixPath(location.name).name.removesuffix(".yaml")
        fragments.blocks[name] = BlockDefinition(name, params, layers, location.origin)
    else:
        spec = root.get("spec")
        if not isinstance(spec, MappingNode):
            diagnostics.add("E205", f"{kind} fragment `{location.name}` needs `spec:` as a mapping",
                            root.span)
            return
        fragments.layers_under.append(spec)
