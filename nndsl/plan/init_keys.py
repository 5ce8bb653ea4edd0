"""Plan stage: `init_from:` checkpoints in any key layout, and `rename:` with patterns.

In: a checkpoint's tensor shapes by key (`nndsl.plan.checkpoint_shapes`, no torch), the spec's
`strip_prefix:` and `rename:`, the graph's layer names. Out: the checkpoint's layers (tensor
names and shapes by layer key) with the layout they came in, and the map from this network's
layers to the checkpoint layers they load; or diagnostics located at the key concerned.

Layouts (`layout:`, by default nndsl's where keys begin `layers.`): nndsl's own
(`layers.NAME.TENSOR`), or any other (`0.weight` from a plain
`nn.Sequential`, `encoder.fc1.weight` from a user's module), where a layer is a key's module
path (everything before its last dot) and its tensors are the last names; `strip_prefix`
first removes a prefix such as a Lightning module's attribute (`model.`), and keys without it
are not part of the checkpoint read. `rename:` keys are a checkpoint layer or group name, a glob
(`*` is a run of characters without a dot, each capture fills the next `*` on the right) or a
regular expression written `re:PATTERN` (matched in full, `\\1` or `\\g<name>` on the right).
"""

from __future__ import annotations

import re
from typing import Literal

from nndsl.diagnostics import DiagnosticList, Span, StageContext, did_you_mean
from nndsl.ir import Graph
from nndsl.spec.init_from import InitFromSpec
from nndsl.state_names import LAYERS, module_key

Held = dict[str, dict[str, tuple[int, ...]]]
Layout = Literal["nndsl", "foreign"]
_PREFIX = f"{LAYERS}."


def held_layers(shapes: dict[str, tuple[int, ...]], init: InitFromSpec, span: Span | None,
                prefix_span: Span | None,
                diagnostics: DiagnosticList) -> tuple[Held, Layout] | None:
    """The checkpoint's layers (module key -> tensor -> shape) and its layout; E353 when
    `strip_prefix` begins no key, E465 when nothing is left to load."""
    if init.strip_prefix is not None:
        kept = {key[len(init.strip_prefix):]: shape for key, shape in shapes.items()
                if key.startswith(init.strip_prefix)}
        if not kept:
            first = ", ".join(sorted(shapes)[:3])
            diagnostics.add("E353", f"init_from: strip_prefix `{init.strip_prefix}` begins none "
                            f"of the checkpoint's {len(shapes)} keys (first: {first})",
                            prefix_span or span, "give the prefix its keys start with, e.g. "
                            "`model.` for a Lightning module's `self.model`")
            return None
        shapes = kept
    held: Held = {}
    for key, shape in shapes.items():
        if init.layout != "other" and key.startswith(_PREFIX) and "." in key[len(_PREFIX):]:
            layer, tensor = key[len(_PREFIX):].split(".", 1)
            held.setdefault(layer, {})[tensor] = shape
    if held or init.layout == "nndsl":
        if not held:
            diagnostics.add("E465", f"init_from: `{init.path}` holds no nndsl network: none of "
                            f"its {len(shapes)} tensors is named `layers.NAME.…`", span,
                            "remove `layout: nndsl` to read another key layout")
            return None
        return held, "nndsl"
    for key, shape in shapes.items():  # another layout: a layer is a key's module path
        module, _, tensor = key.rpartition(".")
        held.setdefault(module_key(module), {})[tensor] = shape
    if not held:
        diagnostics.add("E465", f"init_from: `{init.path}` holds no tensors", span,
                        "give a checkpoint with a state dict")
        return None
    return held, "foreign"


def _pattern(text: str) -> tuple[re.Pattern[str], str] | None:
    """A `rename:` key as (regular expression, kind "re" or "glob"), or None for a plain name."""
    if text.startswith("re:"):
        return re.compile(text[3:]), "re"
    if "*" in text:
        return re.compile("([^.]*)".join(re.escape(part) for part in text.split("*"))), "glob"
    return None


def _expand(match: re.Match[str], kind: str, target: str) -> str:
    """The right side of a rename with the match's captures filled in."""
    if kind == "re":
        return match.expand(target)
    pieces, captures = target.split("*"), match.groups()
    if len(pieces) - 1 > len(captures):
        raise ValueError(f"`{target}` has {len(pieces) - 1} `*` but the pattern captures "
                         f"{len(captures)}")
    return pieces[0] + "".join(capture + piece for capture, piece in zip(captures, pieces[1:]))


def renamed(init: InitFromSpec, path: tuple[str | int, ...], graph: Graph, held: Held,
            context: StageContext) -> dict[str, str] | None:
    """This network's layer -> the checkpoint layer it loads from, for renamed layers.

    A plain name maps a layer of that name or a group's layers (`old.x` -> `new.x`); a pattern
    maps each checkpoint layer it matches. E336 when a side names nothing, E351 for a pattern
    that does not compile or expand, E352 when two entries claim one checkpoint layer or one
    layer would load from two checkpoint layers.
    """
    locate, diagnostics = context.locate, context.diagnostics
    checkpoint_names = sorted(key.replace("__", ".") for key in held)
    mapping: dict[str, tuple[str, str]] = {}  # layer -> (checkpoint layer, rename key)
    claimed: dict[str, str] = {}  # checkpoint layer -> the pattern that matched it
    ok = True
    for old, new in init.rename.items():
        span = locate((*path, "rename", old))
        try:
            pattern = _pattern(old)
            pairs = _pairs(old, new, pattern, checkpoint_names)
        except (re.error, ValueError, IndexError) as error:
            diagnostics.add("E351", f"init_from rename `{old}: {new}`: {error}", span,
                            "globs use `*` on both sides; regular expressions are written "
                            "`re:PATTERN` with `\\1` for groups on the right")
            ok = False
            continue
        if not pairs:
            ok = False
            diagnostics.add("E336", f"init_from rename: the checkpoint has no layer or group "
                            f"{'matching' if pattern else ''} `{old}`", span,
                            (None if pattern else did_you_mean(old, checkpoint_names))
                            or f"its layers: {', '.join(checkpoint_names[:8])}")
            continue
        for origin, target in pairs:
            if pattern is not None and origin in claimed:
                ok = False
                diagnostics.add("E352", f"init_from rename: checkpoint layer `{origin}` matches "
                                f"both `{claimed[origin]}` and `{old}`", span,
                                "make the patterns exclusive")
                continue
            if pattern is not None:
                claimed[origin] = old
            layers = [name for name in graph.order
                      if name == target or name.startswith(target + ".")]
            if not layers:
                ok = False
                shown = f"`{target}`" if target == new else f"`{target}` (from `{origin}`)"
                diagnostics.add("E336", f"init_from rename: this network has no layer or group "
                                f"{shown}", span, did_you_mean(target, list(graph.order)))
                continue
            for name in layers:
                source = origin + name[len(target):]
                if name in mapping and mapping[name][0] != source:
                    ok = False
                    diagnostics.add("E352", f"init_from rename: layer `{name}` would load from "
                                    f"both `{mapping[name][0]}` (`{mapping[name][1]}`) and "
                                    f"`{source}` (`{old}`)", span,
                                    "map each layer from one checkpoint layer")
                mapping[name] = (source, old)
    return {name: source for name, (source, _) in mapping.items()} if ok else None


def _pairs(old: str, new: str, pattern: tuple[re.Pattern[str], str] | None,
           checkpoint_names: list[str]) -> list[tuple[str, str]]:
    """(checkpoint layer or group, this network's name) for one rename entry."""
    if pattern is None:
        known = any(name == old or name.startswith(old + ".") for name in checkpoint_names)
        return [(old, new)] if known else []
    expression, kind = pattern
    pairs = []
    for name in checkpoint_names:
        match = expression.fullmatch(name)
        if match is not None:
            pairs.append((name, _expand(match, kind, new)))
    return pairs
