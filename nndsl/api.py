"""The pipeline on one screen.

    YAML ─ source ─▶ Document ─ resolve ─▶ Resolved ─ spec ─▶ Spec ─ check ─▶ (diagnostics)
         ─ ir ─▶ Graph ─ plan ─▶ Plan ─ backend ─▶ Lightning objects ─ run ─▶ run directory

`compile_spec` runs source→plan and is all that `validate`, `show`, `schema` and the TUI need: it
never imports torch or Lightning. `nndsl.run.train` continues from its result.
"""

from __future__ import annotations

from pathlib import Path

from nndsl.check import run_checks, run_partial_checks
from nndsl.data.registry import DATA_SOURCES, DataSignature, DataSourceError
from nndsl.diagnostics import Diagnostic, DiagnosticList, SpecError, StageContext
from nndsl.ir import Graph, check_output, lower
from nndsl.plan import Plan, make_plan
from nndsl.records import Record, field
from nndsl.resolve import Resolved, resolve
from nndsl.source import locate, parse_document, read_text
from nndsl.spec import Spec, load_spec


#: Check-stage codes after which the graph cannot be built (a duplicate layer name, an input that
#: names no layer) or would be built for the wrong input (a declared shape the data contradicts).
GRAPH_BREAKING = frozenset({"E401", "E402", "E502"})


class Compiled(Record):
    """What the front end produced; later fields are None once a stage could not run."""

    path: str
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str] = field(default_factory=dict)
    resolved: Resolved | None = None
    spec: Spec | None = None
    signature: DataSignature | None = None
    graph: Graph | None = None
    plan: Plan | None = None

    @property
    def ok(self) -> bool:
        return self.plan is not None and not any(item.severity == "error"
                                                 for item in self.diagnostics)

    def raise_for_errors(self) -> Valid:
        """The spec as a `Valid` record, every stage's output set; SpecError when it has errors."""
        if not self.ok:
            raise SpecError(self.diagnostics)
        # A plan is made only after a clean check, which needs the data's signature and the graph.
        assert (self.resolved is not None and self.spec is not None and self.signature is not None
                and self.graph is not None and self.plan is not None)
        return Valid(self.path, self.diagnostics, self.sources, self.resolved, self.spec,
                     self.signature, self.graph, self.plan)


class Valid(Record):
    """A spec that passed every front-end stage: what `run/` starts from, no field ever None.

    `diagnostics` holds the warnings (a `Valid` has no errors); `sources` the text of every file
    read, by name.
    """

    path: str
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    resolved: Resolved
    spec: Spec
    signature: DataSignature
    graph: Graph
    plan: Plan


def compile_spec(path: str | Path, overrides: list[str] | None = None,
                 text: str | None = None) -> Compiled:
    """Run every front-end stage, collecting all diagnostics.

    Args:
        path: the spec file (used for relative fragment and data paths, and in diagnostics).
        overrides: `--set path=value` arguments.
        text: the spec's text, when already in memory (the TUI); read from `path` otherwise.
    """
    diagnostics = DiagnosticList()
    path = str(path)
    if text is None:
        text = read_text(Path(path), "spec", diagnostics)
    document = parse_document(text, path, diagnostics) if text is not None else None
    sources = {path: text or ""}
    if document is None:
        return Compiled(path, tuple(diagnostics.sorted()), sources)
    resolved = resolve(document, overrides or [], diagnostics)
    sources.update(resolved.sources)

    def located(spec_path: tuple[str | int, ...]):
        return locate(resolved.root, spec_path)

    context = StageContext(located, diagnostics)
    resolved_cleanly = not diagnostics.has_errors  # a missing fragment leaves sections unknown
    spec = load_spec(resolved.root, diagnostics)
    if spec is None and resolved_cleanly:
        # Every error at once: checks that read only sections without errors run anyway.
        from nndsl.spec.partial import partial_spec  # the error path only (start-up time)

        partial = partial_spec(resolved.root)
        if partial is not None:
            signature = (data_signature(partial.spec, Path(path).parent, context)
                         if "data" in partial.clean else None)
            run_partial_checks(partial.spec, partial.clean, signature, context)
    if spec is None or diagnostics.has_errors:
        return Compiled(path, tuple(diagnostics.sorted()), sources, resolved)
    signature = data_signature(spec, Path(path).parent, context)
    run_checks(spec, signature, context)
    # The graph needs sound layer names and inputs only; other check errors (a metric, a cut, a
    # data file) do not stop it, so its shape errors are reported with them.
    shapeless = signature is None and spec.network.input is None  # the data failed to say
    if any(item.code in GRAPH_BREAKING for item in diagnostics.items) or (
            shapeless and diagnostics.has_errors):
        return Compiled(path, tuple(diagnostics.sorted()), sources, resolved, spec, signature)
    graph = lower(spec, signature.input_shape if signature else None, context)
    # The output is sized for the loss: a loss that does not fit the data says enough.
    loss_fits = not any(item.code == "E408" for item in diagnostics.items)
    if graph is not None and signature is not None and loss_fits:
        check_output(spec, signature, graph, context)
    if graph is None or diagnostics.has_errors:
        return Compiled(path, tuple(diagnostics.sorted()), sources, resolved, spec, signature,
                        graph)
    plan = make_plan(spec, graph, context, signature.input_kind if signature else None)
    return Compiled(path, tuple(diagnostics.sorted()), sources, resolved, spec, signature, graph,
                    plan)


def data_signature(spec: Spec, base_directory: Path, context: StageContext) -> DataSignature | None:
    """What the data source yields (shapes, target kind), or None with an E412 diagnostic."""
    located, diagnostics = context.locate, context.diagnostics
    source = DATA_SOURCES.get(spec.data.source)
    try:
        return source.signature(spec.data.options, base_directory)
    except DataSourceError as error:
        spec_path = ("data", error.field) if error.field else ("data", "source")
        diagnostics.add(error.code, error.message, located(spec_path), error.hint)
        return None
    except OSError as error:  # a path the system refuses outright (too long, not allowed, ...)
        diagnostics.add("E412", f"data: {error.strerror or error}", located(("data",)),
                        "check the file paths under `data:`")
        return None
