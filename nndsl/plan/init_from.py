"""Plan stage: `init_from:` decided without torch: which checkpoint tensors load into which layer.

In: an `InitFromSpec`, the graph and its cuts. Out: an `InitPlan` naming the file read at run
time and, per loaded layer, the checkpoint layer it comes from and its tensor names; or
diagnostics: a source that is not a readable checkpoint or finished run (E335), a `rename:`
naming no layer (E336), `init_from` with an ensemble (E337), a selected layer the checkpoint
lacks (E465), one whose size or type differs (E466), checkpoint layers left over when loading
`all` (E467), a phase that re-initialises the layers it loads (E468), and those of key layouts
and rename patterns (E351-E353, `nndsl.plan.init_keys`).

The checkpoint is read by `nndsl.plan.checkpoint_shapes` (the pickle only, no code run, no tensor
data read); the run stage loads the tensors through `nndsl.run.safe_load`.
"""

from __future__ import annotations

import json
from pathlib import Path

from nndsl.diagnostics import DiagnosticList, Span, StageContext, did_you_mean
from nndsl.ir import Graph
from nndsl.plan.init_keys import Held, Layout, held_layers, renamed
from nndsl.plan.phases import _default_name
from nndsl.state_names import is_buffer, module_key
from nndsl.plan.plan import CutPlan, InitPlan, LayerInit, PhasePlan
from nndsl.plan.regions import select
from nndsl.records import replace
from nndsl.spec import Spec
from nndsl.spec.init_from import InitFromSpec


def plan_initialisations(spec: Spec, graph: Graph, cuts: dict[str, CutPlan],
                         phases: tuple[PhasePlan, ...], context: StageContext,
                         ) -> tuple[InitPlan | None, tuple[PhasePlan, ...]]:
    """The spec's `init_from` plan, and the phases with theirs (E468 when a phase re-initialises
    layers its `init_from` loads: the loaded weights would be thrown away at once)."""
    locate, diagnostics = context.locate, context.diagnostics
    ensemble = spec.ensemble is not None
    initial = None
    if spec.init_from is not None:
        initial = plan_init(spec.init_from, ("init_from",), graph, cuts, context, ensemble)
    by_name = {phase.name: phase for phase in phases}
    for index, phase_spec in enumerate(spec.schedule):
        name = phase_spec.name or _default_name(phase_spec.phase, index, spec)
        phase = by_name.get(name)
        if phase_spec.init_from is None or phase is None:
            continue
        path = ("schedule", index, "init_from")
        planned = plan_init(phase_spec.init_from, path, graph, cuts, context, ensemble)
        if planned is None:
            continue
        wasted = [layer.layer for layer in planned.layers if layer.layer in phase.reinitialised]
        if wasted:
            diagnostics.add("E468", f"phase `{name}` loads {', '.join(wasted[:5])} from "
                            "init_from and re-initialises them at once", locate(path),
                            "leave those layers out of `select:` or out of the re-initialised "
                            "ones")
        by_name[name] = replace(phase, init=planned)
    return initial, tuple(by_name[phase.name] for phase in phases)


def plan_init(init: InitFromSpec, path: tuple[str | int, ...], graph: Graph,
              cuts: dict[str, CutPlan], context: StageContext,
              ensemble: bool = False) -> InitPlan | None:
    """The loading plan for one `init_from:` at spec `path`; None after an error."""
    locate, diagnostics = context.locate, context.diagnostics
    span = locate(path)
    where = locate((*path, "path")) or span
    if ensemble:
        diagnostics.add("E337", "init_from cannot load into an ensemble: its members' layers are "
                        "stacked, not named like a single network's", span,
                        "train the ensemble from scratch, or fine-tune a single network")
        return None
    source = _resolve(init.path, locate(()), where)
    found = _source_file(init, source, where, locate((*path, "weights")), diagnostics)
    if found is None:
        return None
    file, file_format, source_types = found
    if not file.is_file():
        diagnostics.add("E335", f"init_from: `{init.path}` does not exist (yet)", where,
                        "train the run it comes from first (`nndsl train SPEC --run-dir DIR`); "
                        "training checks again", severity="warning")
        return InitPlan(init.path, str(file), file_format, (), 0, checked=False)
    found_layers = _held_layers(init, file, path, where, context)
    held, layout = found_layers or ({}, "nndsl")
    chosen = _selected(init, path, graph, cuts, context)
    sources = renamed(init, path, graph, held, context) if found_layers else {}
    if found_layers is None or chosen is None or sources is None:
        return None
    layers = _matched(graph, chosen, sources, held, source_types, span, diagnostics,
                      layout == "foreign")
    used = {module_key(sources.get(name, name)) for name in chosen}
    unused = sorted(key.replace("__", ".") for key in set(held) - used)
    if any(selector.kind == "all" for selector in init.select) and unused:
        # `all` loads the checkpoint as a whole, like torch's strict loading: a layer left over
        # is most often a renamed one, which would silently keep its fresh initialisation.
        diagnostics.add("E467", f"init_from: checkpoint layers {', '.join(unused[:5])}"
                        f"{' …' if len(unused) > 5 else ''} match no layer here",
                        span, "map them with `rename:`, or name the layers loaded with `select:`")
        return None
    if layers is None:
        return None
    return InitPlan(init.path, str(file), file_format, layers,
                    sum(layer.parameters for layer in layers), layout=layout,
                    strip_prefix=init.strip_prefix or "")


def _held_layers(init: InitFromSpec, file: Path, path: tuple[str | int, ...], span: Span | None,
                 context: StageContext) -> tuple[Held, Layout] | None:
    """The checkpoint's tensor shapes by layer key and tensor name, read without torch, and its
    key layout (`nndsl.plan.init_keys`); E335 for a file nndsl cannot read."""
    from nndsl.plan.checkpoint_shapes import CheckpointRefused, checkpoint_shapes

    try:
        shapes = checkpoint_shapes(file)
    except CheckpointRefused as refusal:
        context.diagnostics.add("E335", f"init_from: `{file}` is not a checkpoint nndsl can "
                                f"read: {refusal}", span, "give a run directory, a Lightning "
                                ".ckpt or a state dict saved by torch.save")
        return None
    return held_layers(shapes, init, span, context.locate((*path, "strip_prefix")),
                       context.diagnostics)


def _selected(init: InitFromSpec, path: tuple[str | int, ...], graph: Graph,
              cuts: dict[str, CutPlan], context: StageContext) -> set[str] | None:
    """The layers `select:` picks; E403 for a cut that does not exist (E404 from `select`)."""
    locate, diagnostics = context.locate, context.diagnostics
    chosen: set[str] = set()
    for position, selector in enumerate(init.select):
        place = locate((*path, "select", position))
        if selector.kind in ("extractor", "classifier") and selector.argument not in cuts:
            # The check stage checks phases' cut names; this selector is only read here.
            diagnostics.add("E403", f"cut `{selector.argument}` does not exist", place,
                            did_you_mean(selector.argument, cuts)
                            or (f"cuts: {', '.join(cuts)}" if cuts else "define `cuts:`"))
            return None
        chosen |= set(select(selector, graph, cuts, place, diagnostics))
    return chosen


def _matched(graph: Graph, chosen: set[str], sources: dict[str, str],
             held: dict[str, dict[str, tuple[int, ...]]], source_types: dict[str, str],
             span: Span | None, diagnostics: DiagnosticList,
             foreign: bool = False) -> tuple[LayerInit, ...] | None:
    """Each chosen layer with the checkpoint layer it loads, in graph order; None after E465
    (a layer with parameters the checkpoint lacks) or E466 (another type or size)."""
    layers, fits = [], True
    names = sorted(key.replace("__", ".") for key in held)  # as `rename:` writes them
    for name in (node for node in graph.order if node in chosen):
        origin = sources.get(name, name)
        tensors = held.get(module_key(origin))
        expected = graph.node(name).parameter_count
        if tensors is None:
            if expected:  # a layer without parameters (an activation) has nothing to load
                fits = False
                named = "" if origin == name else f" (renamed from `{origin}`)"
                diagnostics.add("E465", f"init_from: the checkpoint has no layer `{origin}` for "
                                f"layer `{name}`{named}", span,
                                did_you_mean(origin, names)
                                or (f"the checkpoint is not in nndsl's key layout (its layers: "
                                    f"{', '.join(names[:6])}); map them with `rename:` "
                                    "(globs and `re:` patterns allowed)" if foreign else
                                    "load fewer layers with `select:`, or map names with "
                                    "`rename:`"))
            continue
        count, kind = _count(tensors), source_types.get(origin)
        if kind is not None and kind != graph.node(name).type:
            fits = False
            diagnostics.add("E466", f"init_from: layer `{name}` is a {graph.node(name).type}, the "
                            f"checkpoint's `{origin}` a {kind}", span,
                            "load only layers of the same type (`select:`)")
        elif expected not in (count, _count(tensors, with_buffers=True)):
            fits = False
            diagnostics.add("E466", f"init_from: layer `{name}` holds {expected:,} parameters, the "
                            f"checkpoint's `{origin}` {count:,}", span,
                            "layers loaded must have the same sizes; leave this one out of "
                            "`select:`")
        else:
            layers.append(LayerInit(name, origin, tuple(sorted(tensors)), expected))
    return tuple(layers) if fits else None


def _resolve(text: str, spec_span: Span | None, span: Span | None) -> Path:
    """A path against the spec's folder (the working directory for a `--set` value)."""
    in_spec = spec_span is not None and Path(spec_span.file).is_file() and (
        span is None or span.origin != "--set")
    folder = Path(spec_span.file).parent if in_spec and spec_span is not None else Path()
    return (folder / Path(text).expanduser()).resolve()


def _source_file(init: InitFromSpec, source: Path, span: Span | None, weights_span: Span | None,
                 diagnostics: DiagnosticList) -> tuple[Path, str, dict[str, str]] | None:
    """The file to read, its format, and the source's layer types where a run directory says."""
    if not source.exists():  # a run still to be trained: the caller warns, training checks again
        kind = {".ckpt": "lightning", ".pt": "state_dict", ".pth": "state_dict"}
        return source, kind.get(source.suffix, "run"), {}
    if not source.is_dir():
        if init.weights == "best":
            diagnostics.add("E425", "`weights: best` applies to a run directory, not a file",
                            weights_span or span, "remove `weights`, or give the run directory")
            return None
        return source, "lightning" if source.suffix == ".ckpt" else "state_dict", {}
    if not (source / "run.json").is_file():
        diagnostics.add("E335", f"init_from: `{init.path}` is a folder but not an nndsl run "
                        "directory (no run.json)", span,
                        "give a run directory, a Lightning .ckpt or a state dict file")
        return None
    types: dict[str, str] = {}
    try:
        graph = json.loads((source / "graph.json").read_text(encoding="utf-8"))
        types = {node["name"]: node["type"] for node in graph.get("nodes", ())}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # an older or damaged graph dump: sizes are still checked
    if init.weights == "final":
        file = source / "final_weights.pt"
        if not file.is_file():
            diagnostics.add("E335", f"init_from: the run `{init.path}` has no final_weights.pt: "
                            "it did not finish", span,
                            "finish it (`nndsl train --resume RUN_DIR`), or use `weights: best`")
            return None
        return file, "run", types
    best = _best_checkpoint(source)
    if best is None:
        diagnostics.add("E335", f"init_from: the run `{init.path}` has no best.ckpt of a "
                        "finished run", weights_span or span, "use `weights: final`")
        return None
    return best, "lightning", types


def _best_checkpoint(directory: Path) -> Path | None:
    """The `best.ckpt` of the last run the run directory's progress record finished."""
    try:
        progress = json.loads((directory / "progress.json").read_text(encoding="utf-8"))
        labels = [label for label, record in progress["runs"].items()
                  if record.get("row") and record.get("accepted", True)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    for label in reversed(labels):
        candidate = directory / "checkpoints" / label / "best.ckpt"
        if candidate.is_file():
            return candidate
    return None


def _count(tensors: dict[str, tuple[int, ...]], with_buffers: bool = False) -> int:
    total = 0
    for tensor, shape in tensors.items():
        if with_buffers or not is_buffer(tensor):
            size = 1
            for extent in shape:
                size *= extent
            total += size
    return total
