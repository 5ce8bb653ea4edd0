"""The JSON Schema checked by an independent validator (jsonschema, as editors embed): every
shipped spec passes, and mistakes local to one value in the invalid-spec corpus are caught.
Cross-references (a cut naming a layer, a metric against the data) are `nndsl validate`'s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nndsl.cli.schema import spec_schema

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "errors" / "cases"

#: Cases whose mistake sits in one value: the schema must flag each of them.
LOCAL = {
    "E208_bad_repeat",
    "E301_unknown_key",
    "E301_unknown_section",
    "E302_missing_key",
    "E303_wrong_type",
    "E304_out_of_range",
    "E304_zero_stride",
    "E305_unknown_choice",
    "E305_unknown_optimizer",
    "E306_unknown_layer_type",
    "E307_budget_does_not_parse",
    "E308_wrong_version",
    "E309_absurd_size",
    "E309_absurd_budget",
    "E310_unknown_data_source",
    "E311_bad_selector",
    "E312_cut_name_path",
    "E312_name_escapes_runs",
    "E312_phase_name_path",
    "E425_loss_option_unused",
    "E461_scheduler_option_unused",
    "E462_warmup_with_one_cycle",
}


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(json.dumps(spec_schema()))  # as `nndsl schema` prints it
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def caught_cases(validator) -> tuple[list[str], list[str]]:
    """(caught, missed) case names; cases that are not a YAML mapping are left out."""
    caught, missed = [], []
    for path in sorted(CASES.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(document, dict):
            (caught if any(True for _ in validator.iter_errors(document)) else missed).append(
                path.stem
            )
    return caught, missed


def test_schema_catches_every_local_mistake(validator):
    caught, missed = caught_cases(validator)
    print(
        f"\nschema catches {len(caught)} of {len(caught) + len(missed)} invalid specs:\n  "
        + "\n  ".join(caught)
        + "\nleft to `nndsl validate`:\n  "
        + "\n  ".join(missed)
    )
    assert LOCAL <= set(caught), sorted(LOCAL - set(caught))


@pytest.mark.parametrize(
    "path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda path: path.name
)
def test_schema_accepts_shipped_specs(validator, path):
    errors = [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors


@pytest.mark.parametrize(
    ("budget", "valid"),
    [
        ("48 MiB", True),
        ("5%", True),
        ("100%", True),
        (50000000, True),
        ("0%", False),
        ("-5 MiB", False),
        ("lots", False),
        ("101%", False),
        ("9000 TiB", False),
        ("1125.5 TB", True),
        ("7 kib", True),
        (0, False),
        (2**60, False),
    ],
)
def test_budget_values(validator, budget, valid):
    spec = yaml.safe_load((ROOT / "specs" / "quickstart.yaml").read_text())
    spec["memory"] = {"budget": budget}
    assert (not list(validator.iter_errors(spec))) == valid
