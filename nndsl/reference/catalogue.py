"""Language reference: the registries and catalogues — names at a glance, layer types, data
sources, stdlib fragments and error codes with an invalid-spec example each.

In: the registries (`nndsl.layers.LAYERS`, `nndsl.data.registry.DATA_SOURCES`), the stdlib, the
spec models' choices and `nndsl.codes.CODES`. Out: lists of Markdown lines for
`nndsl.reference.generate`.
"""

from __future__ import annotations

import re
from pathlib import Path

from nndsl.reference.models import SectionWalker, anchor, field_table, literal_values, union_members

_EXPECT = re.compile(r"^# (expect|hint): ")
_LAYERS_INTRO = (
    "Each layer is `{name: NAME, type: TYPE, inputs: [...], PARAMETERS...}`; `name` defaults to "
    "the type and position, `inputs` to the previous layer (inside a block, `block_input` names "
    "the block's own input). Shapes are one example's, without the batch axis; `T` is a "
    "variable sequence length.")
_SOURCES_INTRO = (
    "`data: {source: NAME, batch_size: ..., valid_fraction: ..., test_fraction: ..., "
    "PARAMETERS...}`: the common keys are under [`data`](#data), the source's own below.")
_STDLIB_INTRO = (
    "Fragments named in `use:`. A block is used as `{block: NAME, repeat: N, name: \"x{index}\", "
    "with: {PARAMETER: VALUE}}`; presets and schedules supply whole sections.")
_CODES_INTRO = (
    "`nndsl validate` reports every problem as `file:line:col: CODE message`, with the YAML line, "
    "where the value came from and a hint; exit status 2. Codes by stage: E1xx reading YAML, "
    "E2xx fragments and overrides, E3xx keys and values, E4xx cross-references, E5xx shapes, "
    "E6xx planning.")


def names_index() -> list[str]:
    """Every choosable name: losses, metrics, optimisers, schedulers, phase kinds, layer types,
    data sources, with where each is described."""
    from nndsl.data.registry import DATA_SOURCES
    from nndsl.layers import LAYERS
    from nndsl.spec.root import Spec
    from nndsl.spec.training import LossSpec, SchedulerSpec

    fields = Spec.model_fields
    optimisers = [value for model in union_members(fields["optimizer"].annotation)
                  for value in literal_values(model.model_fields["type"].annotation)]
    metrics = literal_values(fields["metrics"].annotation.__args__[0])
    phases = [value for model in union_members(fields["schedule"].annotation.__args__[0])
              for value in literal_values(model.model_fields["phase"].annotation)]
    losses = literal_values(LossSpec.model_fields["type"].annotation)
    rows = [("losses (`loss: {type: ...}`)", losses, "loss"),
            ("metrics (`metrics: [...]`)", metrics, "top-level"),
            ("optimisers (`optimizer: {type: ...}`)", optimisers, "top-level"),
            ("schedulers (`trainer: {scheduler: {type: ...}}`)",
             literal_values(SchedulerSpec.model_fields["type"].annotation), "trainer-scheduler"),
            ("phase kinds (`schedule: [{phase: ...}]`)", phases, "top-level"),
            ("layer types (`type:`)", LAYERS.names(), "layer-types"),
            ("data sources (`data: {source: ...}`)", DATA_SOURCES.names(), "data-sources")]
    lines = ["## Names at a glance", "", "| what | names | described in |", "|---|---|---|"]
    for what, names, target in rows:
        listed = ", ".join(f"`{name}`" for name in names)
        lines.append(f"| {what} | {listed} | [{target.replace('-', ' ')}](#{target}) |")
    return [*lines, ""]


def layer_types() -> list[str]:
    from nndsl.layers import LAYERS, LayerType

    lines = ["## Layer types", "", _LAYERS_INTRO, ""]
    for layer in LAYERS:
        unchanged = type(layer).output_shape is LayerType.output_shape
        fallback = "same shape as its input" if unchanged else "see the description"
        rule = layer.shape_rule or fallback
        low, high = layer.inputs
        count = (str(low) if low == high else f"{low} or more" if high is None
                 else f"{low} to {high}")
        recurrent = " (recurrent: memory budgets plan it over time)" if layer.recurrent else ""
        lines += [f'<a id="layer-{anchor(layer.name)}"></a>', "", f"### `{layer.name}`", "",
                  layer.doc, "", f"- shape: {rule}", f"- inputs: {count}{recurrent}", ""]
        if layer.Params.model_fields:
            lines += [*field_table(layer.Params, SectionWalker(), ""), ""]
        else:
            lines += ["No parameters.", ""]
    return lines


def data_sources() -> list[str]:
    from nndsl.data.registry import DATA_SOURCES

    lines = ["## Data sources", "", _SOURCES_INTRO, ""]
    for name in DATA_SOURCES.names():
        source = DATA_SOURCES.get(name)
        lines += [f'<a id="source-{anchor(name)}"></a>', "", f"### `{name}`", "", source.doc, ""]
        lines += [*field_table(source.Params, SectionWalker(), ""), ""]
    return lines


def stdlib_fragments() -> list[str]:
    from nndsl.resolve.library import locate_fragment, stdlib_names

    lines = ["## Standard library", "", _STDLIB_INTRO, ""]
    for name in stdlib_names():
        location = locate_fragment(name, ".")
        text = location.resource.read_text(encoding="utf-8") if location else ""
        header = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
        lines += [f"### `{name}`", "", " ".join(header), ""]
    return lines


def error_codes(cases: Path | None) -> list[str]:
    """Every code with its meaning and, from `cases`, a spec that provokes it and what
    `nndsl validate` says about it."""
    from nndsl.codes import CODES

    lines = ["## Error codes", "", _CODES_INTRO, ""]
    for code, meaning in CODES.items():
        lines += [f'<a id="{code.lower()}"></a>', "", f"### {code}: {meaning}", ""]
        example = _example(code, cases) if cases else None
        if example:
            lines += example
    return lines


# Problems with `--set` overrides have no spec file of their own: an override on the quickstart.
_OVERRIDE_EXAMPLES = {"E203": "optimizer.lr", "E204": "network.layers.9.units=3"}


def _example(code: str, cases: Path) -> list[str] | None:
    """The first invalid-spec case for `code`, shown with the message it produces."""
    files = sorted(cases.glob(f"{code}_*.yaml"))
    if code in _OVERRIDE_EXAMPLES:
        return _override_example(code, cases)
    if not files:
        return None
    path = files[0]
    text = path.read_bytes().decode("utf-8", errors="replace")
    body = "\n".join(line for line in text.splitlines() if not _EXPECT.match(line)).strip("\n")
    if "\ufffd" in body or len(body.splitlines()) > 40:
        return [f"Example: `tests/errors/cases/{path.name}` (not shown: not UTF-8 or too long).",
                ""]
    message = _message(code, path, cases)
    lines = [f"Example (`tests/errors/cases/{path.name}`):", "", "```yaml", body, "```", ""]
    if message:
        lines += ["says:", "", "```", message, "```", ""]
    return lines


def _message(code: str, path: Path, cases: Path) -> str | None:
    """`CODE message` of the first diagnostic with that code (paths made relative to the cases)."""
    from nndsl.api import compile_spec

    try:
        compiled = compile_spec(path)
    except Exception:  # noqa: BLE001 - an example that cannot compile is shown without its message
        return None
    for diagnostic in compiled.diagnostics:
        if diagnostic.code == code:
            return f"{code} {diagnostic.message}".replace(str(cases.resolve()) + "/", "").replace(
                str(cases) + "/", "")
    return None


def _override_example(code: str, cases: Path) -> list[str] | None:
    from nndsl.api import compile_spec

    override = _OVERRIDE_EXAMPLES[code]
    quickstart = cases.parents[2] / "specs" / "quickstart.yaml"
    if not quickstart.is_file():
        return None
    compiled = compile_spec(quickstart, [override])
    message = next((f"{code} {item.message}" for item in compiled.diagnostics if item.code == code),
                   None)
    command = f"nndsl validate specs/quickstart.yaml --set {override}"
    lines = ["Example:", "", "```", command, "```", ""]
    return [*lines, "says:", "", "```", message, "```", ""] if message else lines
