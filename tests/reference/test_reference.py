"""docs/reference.md is the generated language reference: it equals what the generator prints
now, and every registered name (layer types, data sources, losses, metrics, optimisers,
schedulers, phase kinds, stdlib fragments, error codes, spec sections) appears in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nndsl.cli.schema import spec_schema
from nndsl.codes import CODES
from nndsl.data.registry import DATA_SOURCES
from nndsl.layers import LAYERS
from nndsl.reference import REGENERATE, generate
from nndsl.resolve.library import stdlib_names

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "reference.md"


@pytest.fixture(scope="module")
def reference() -> str:
    return generate(ROOT / "tests" / "errors" / "cases")


def test_committed_reference_equals_the_generated_one(reference):
    assert COMMITTED.read_text(encoding="utf-8") == reference, \
        f"docs/reference.md is out of date: regenerate it with `{REGENERATE}` and commit it"


def _schema_names() -> dict[str, list[str]]:
    """Choosable names read from the JSON Schema (independently of the reference's own walk)."""
    schema = spec_schema()
    definitions, properties = schema["$defs"], schema["properties"]
    return {
        "loss": definitions["LossSpec"]["properties"]["type"]["enum"],
        "metric": properties["metrics"]["items"]["enum"],
        "optimiser": list(properties["optimizer"]["discriminator"]["mapping"]),
        "scheduler": definitions["SchedulerSpec"]["properties"]["type"]["enum"],
        "phase": list(properties["schedule"]["items"]["discriminator"]["mapping"]),
        "section": list(properties),
    }


def test_every_registered_name_appears(reference):
    names = {"layer type": LAYERS.names(), "data source": DATA_SOURCES.names(),
             "fragment": stdlib_names(), **_schema_names()}
    missing = [f"{kind} `{name}`" for kind, listed in names.items() for name in listed
               if f"`{name}`" not in reference]
    assert not missing, f"not in the reference: {missing}; regenerate with `{REGENERATE}`"
    for layer in LAYERS.names():
        assert f"### `{layer}`" in reference
    for code in CODES:
        assert re.search(rf"^### {code}: ", reference, re.MULTILINE), code


def test_every_code_has_an_example_with_its_message(reference):
    sections = re.split(r"^### (?=E\d{3}: )", reference, flags=re.MULTILINE)[1:]
    assert len(sections) == len(CODES)
    without = [section[:4] for section in sections if "Example" not in section]
    assert not without, f"codes without an example: {without}"
    unconfirmed = [section[:4] for section in sections if f"\n{section[:4]} " not in section]
    # A case whose message is shown confirms that the example provokes the code it documents.
    assert len(unconfirmed) <= 3, f"examples whose message is not shown: {unconfirmed}"


def test_readme_links_into_the_reference_resolve(reference):
    """The README's tour points at anchors the reference has (explicit ids or headings)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"docs/reference\.md#([\w-]+)", readme)
    assert targets
    headings = {re.sub(r"[^\w\- ]", "", line.lstrip("# ")).lower().replace(" ", "-")
                for line in reference.splitlines() if line.startswith("## ")}
    for target in targets:
        assert f'id="{target}"' in reference or target in headings, target
