"""The language reference, generated from the code: `python -m nndsl.reference > docs/reference.md`.

In: the spec's pydantic models, the layer-type and data-source registries, the stdlib fragments,
the error catalogue (`nndsl.codes`) and, when run from a source checkout, the invalid-spec
examples under tests/errors/cases. Out: one Markdown document (`generate()`), so the reference
cannot drift from what `nndsl validate` accepts; a test compares it with the committed file.
"""

from __future__ import annotations

from pathlib import Path

from nndsl.reference.catalogue import (error_codes, layer_types, names_index, stdlib_fragments,
                                       data_sources)
from nndsl.reference.models import SectionWalker, anchor, field_table

REGENERATE = "python -m nndsl.reference > docs/reference.md"
DEFAULT_CASES = Path(__file__).resolve().parents[2] / "tests" / "errors" / "cases"

_INTRODUCTION = f"""# nndsl language reference

Generated from the code by `{REGENERATE}`; do not edit by hand. A spec is one YAML mapping: the
sections below are its keys. Parameters of a layer sit beside its `type:`, and those of a data
source beside `source:`. `nndsl schema` gives the same language as a JSON Schema for editors.

Contents: [names at a glance](#names-at-a-glance) · [spec sections](#spec-sections) ·
[layer types](#layer-types) · [data sources](#data-sources) ·
[standard library](#standard-library) · [error codes](#error-codes)
"""


def generate(cases: Path | None = DEFAULT_CASES) -> str:
    """The whole reference as Markdown; `cases`: the directory of one invalid spec per code
    (examples are left out when it does not exist, as in an installed wheel)."""
    from nndsl.spec import Spec

    lines = [_INTRODUCTION]
    lines += names_index()
    lines += ["", "## Spec sections", ""]
    walker = SectionWalker()
    for title, model in walker.sections(Spec, "top level"):
        lines += [f'<a id="{anchor(title)}"></a>', "", f"### `{title}`", ""]
        doc = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
        if doc:
            lines += [doc, ""]
        path = "" if title == "top level" else title.split(" (")[0]
        lines += [*field_table(model, walker, path), ""]
    lines += layer_types()
    lines += data_sources()
    lines += stdlib_fragments()
    lines += error_codes(cases if cases is not None and cases.is_dir() else None)
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["REGENERATE", "generate"]
