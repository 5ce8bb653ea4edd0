"""Check stage: names and cross-references inside the spec.

Duplicate layer names, `inputs:` that name nothing, cuts that name missing units, phases and
ensembles that name missing cuts, duplicate phase names, and monitored metrics the run never logs.
"""

from __future__ import annotations

from collections.abc import Iterator

from nndsl.diagnostics import DiagnosticList, Span, StageContext, did_you_mean
from nndsl.records import Record
from nndsl.spec import Spec
from nndsl.spec.network import GroupSpec, LayerSpec
from nndsl.spec.schedule import (AdaptPhase, EvaluatePhase, GradualUnfreezePhase, JointPhase,
                                 RetrainClassifierPhase, TopDownPhase, TrainPhase)


class PhaseReferences(Record):
    """What a phase kind names that must exist: cuts and the cuts inside selectors."""

    cut_fields: tuple[str, ...] = ()  # fields holding one cut's name (None when not written)
    selector_fields: tuple[str, ...] = ()  # fields holding selector lists
    needs_cuts: bool = False  # the kind works on cuts: the spec must define some (E403)


#: The references of each phase kind. A kind added to the language gets its entry here (a kind
#: without one fails every check at once, rather than going unchecked). Only `train` phases hold
#: selector lists: a retrain_classifier phase's `reinit` is a flag.
PHASE_REFERENCES: dict[type, PhaseReferences] = {
    JointPhase: PhaseReferences(),
    TrainPhase: PhaseReferences(selector_fields=("train", "freeze", "reinit")),
    TopDownPhase: PhaseReferences(cut_fields=("first_cut", "last_cut"), needs_cuts=True),
    RetrainClassifierPhase: PhaseReferences(cut_fields=("cut",), needs_cuts=True),
    AdaptPhase: PhaseReferences(selector_fields=("train", "freeze", "reinit")),
    # `by: cuts` without cuts is the plan stage's E469, which expands the phase into stages.
    GradualUnfreezePhase: PhaseReferences(),
    EvaluatePhase: PhaseReferences(),  # its layer slots: nndsl.check.selection
}


def layer_entries(spec: Spec) -> Iterator[tuple[tuple[str | int, ...], LayerSpec | GroupSpec]]:
    """Every layer and group with its spec path, depth first."""

    def walk(items: tuple, path: tuple) -> Iterator[tuple[tuple, LayerSpec | GroupSpec]]:
        for index, item in enumerate(items):
            yield (*path, index), item
            if isinstance(item, GroupSpec):
                yield from walk(item.layers, (*path, index, "layers"))

    yield from walk(spec.network.layers, ("network", "layers"))


def unit_names(spec: Spec) -> list[str]:
    """Top-level unit names in order (what `cuts: units` separates)."""
    return [item.group if isinstance(item, GroupSpec) else item.name
            for item in spec.network.layers]


def cut_names(spec: Spec) -> list[str]:
    if spec.cuts == "units":
        return [f"C{index}" for index in range(1, len(spec.network.layers))]
    return list(spec.cuts or {})


def check_names(spec: Spec, context: StageContext) -> None:
    locate, diagnostics = context.locate, context.diagnostics
    seen: dict[str, tuple] = {}
    for path, item in layer_entries(spec):
        name = item.group if isinstance(item, GroupSpec) else item.name
        if name in seen:
            first, span = locate(seen[name]), locate(path)
            same_file = first is not None and span is not None and first.file == span.file
            where = f"line {first.line}" if same_file else str(first or "an earlier layer")
            diagnostics.add("E401", f"the name `{name}` is used twice (first at {where})", span,
                            "every layer and group needs its own name")
        else:
            seen[name] = path
    # `G.block_input` names group G's input (a residual connection inside a block).
    known = set(seen) | {"input"} | {f"{item.group}.block_input" for _, item in layer_entries(spec)
                                     if isinstance(item, GroupSpec)}
    for path, item in layer_entries(spec):
        for position, source in enumerate(item.inputs or ()):
            if source not in known:
                diagnostics.add("E402", f"input `{source}` names no layer",
                                locate((*path, "inputs", position)),
                                did_you_mean(source, known) or "`input` is the network input")
    if spec.network.output and spec.network.output not in known:
        diagnostics.add("E402", f"output `{spec.network.output}` names no layer",
                        locate(("network", "output")), did_you_mean(spec.network.output, known))


def check_cuts(spec: Spec, context: StageContext) -> None:
    locate, diagnostics = context.locate, context.diagnostics
    units = unit_names(spec)
    if spec.cuts == "units" and len(units) < 2:
        diagnostics.add("E411", "`cuts: units` needs at least two top-level units",
                        locate(("cuts",)), "a one-unit network has nothing to cut")
    if isinstance(spec.cuts, dict):
        for name, cut in spec.cuts.items():
            if (cut.after is None) == (cut.extractor is None):
                diagnostics.add("E411", f"cut `{name}` needs exactly one of `after:` or "
                                        f"`extractor:`",
                                locate(("cuts", name)), "for example: {after: enc3}")
            elif cut.after is not None and cut.after not in units[:-1]:
                hint = did_you_mean(cut.after, units) or f"top-level units: {', '.join(units)}"
                if cut.after == units[-1]:
                    hint = "a cut after the last unit leaves no classifier"
                diagnostics.add("E411", f"cut `{name}` follows `{cut.after}`, which is not a "
                                f"top-level unit with layers above it",
                                locate(("cuts", name, "after")), hint)
    cuts = cut_names(spec)
    for index, phase in enumerate(spec.schedule):
        references = PHASE_REFERENCES[type(phase)]
        for field in references.cut_fields:
            cut = getattr(phase, field)
            if cut is not None and cut not in cuts:
                _missing_cut(cut, cuts, locate(("schedule", index, field)), diagnostics)
        if references.needs_cuts and not cuts:
            diagnostics.add("E403", f"phase `{phase.phase}` needs cuts, but the spec defines none",
                            locate(("schedule", index)), "add `cuts: units`")
        for field in references.selector_fields:
            for position, selector in enumerate(getattr(phase, field)):
                if selector.kind in ("extractor", "classifier") and selector.argument not in cuts:
                    _missing_cut(selector.argument, cuts,
                                 locate(("schedule", index, field, position)), diagnostics)
    if spec.ensemble and spec.ensemble.share and spec.ensemble.share not in cuts:
        _missing_cut(spec.ensemble.share, cuts, locate(("ensemble", "share")), diagnostics)
    for position, multiplier in enumerate(spec.tempering.multipliers):
        for selector_index, selector in enumerate(multiplier.select):
            if selector.kind in ("extractor", "classifier") and selector.argument not in cuts:
                path = ("tempering", "multipliers", position, "select", selector_index)
                _missing_cut(selector.argument, cuts, locate(path), diagnostics)


def _missing_cut(cut: str, cuts: list[str], span: Span | None, diagnostics: DiagnosticList) -> None:
    diagnostics.add("E403", f"cut `{cut}` does not exist", span,
                    did_you_mean(cut, cuts)
                    or (f"cuts: {', '.join(cuts)}" if cuts else "define `cuts:`"))


def check_phases(spec: Spec, context: StageContext) -> None:
    locate, diagnostics = context.locate, context.diagnostics
    seen: set[str] = set()
    for index, phase in enumerate(spec.schedule):
        if phase.name is None:
            continue
        if phase.name in seen:
            diagnostics.add("E413", f"two phases are named `{phase.name}`",
                            locate(("schedule", index, "name")),
                            "phase names label the run's phase table; make them unique")
        seen.add(phase.name)
