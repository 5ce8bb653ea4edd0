"""One invalid spec per diagnostic code: each is found, at the right place, without a traceback.

Every file in `cases/` starts with `# expect: CODE at LINE:COLUMN` (or `at FILE:LINE:COLUMN` for
a diagnostic inside a fragment, FILE relative to `cases/`), optionally followed by
`# hint: TEXT` lines that the diagnostic's hint must contain. `--set` problems have no file of
their own: they are listed in SET_CASES. A test at the end checks that every code in
`nndsl.codes` has a case (or is listed as not emitted yet).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from nndsl.api import compile_spec
from nndsl.cli import main
from nndsl.codes import CODES

CASES = Path(__file__).parent / "cases"
ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "specs" / "quickstart.yaml"
_EXPECT = re.compile(r"# expect: (E\d{3}) at (?:(?P<file>[^:\s]+):)?(?P<line>\d+):(?P<column>\d+)$")


@dataclass(frozen=True)
class Expectation:
    code: str
    file: Path
    line: int
    column: int
    hints: tuple[str, ...]


def read_expectation(path: Path) -> Expectation:
    # Bytes, not text: some cases are deliberately not UTF-8 after their header.
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    match = _EXPECT.match(lines[0])
    assert match, f"{path.name}: the first line must be `# expect: CODE at LINE:COLUMN`"
    hints = tuple(line.removeprefix("# hint: ") for line in lines[1:]
                  if line.startswith("# hint: "))
    file = (CASES / match["file"]).resolve() if match["file"] else path.resolve()
    return Expectation(match[1], file, int(match["line"]), int(match["column"]), hints)


def same_file(span_file: str, expected: Path) -> bool:
    return Path(span_file).resolve() == expected


CASE_FILES = sorted(CASES.glob("*.yaml"))


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case_reports_its_code_at_its_place(path):
    expected = read_expectation(path)
    assert path.name.startswith(expected.code), "a case file is named after its code"
    compiled = compile_spec(path)  # an exception escaping here fails the test
    assert not compiled.ok
    found = [item for item in compiled.diagnostics if item.code == expected.code]
    got = [(item.code, item.message) for item in compiled.diagnostics]
    assert found, f"no {expected.code}; got {got}"
    placed = [item for item in found if item.span is not None
              and same_file(item.span.file, expected.file)
              and (item.span.line, item.span.column) == (expected.line, expected.column)]
    places = [(item.span.file, item.span.line, item.span.column) for item in found if item.span]
    where = f"{expected.line}:{expected.column}"
    assert placed, f"{expected.code} expected at {where}, found at {places}"
    for hint in expected.hints:
        assert any(hint in (item.hint or "") for item in placed), \
            f"hint {hint!r} not in {placed[0].hint!r}"
    assert all(item.code in CODES for item in compiled.diagnostics)


@pytest.mark.parametrize("path", CASE_FILES, ids=[path.stem for path in CASE_FILES])
def test_case_fails_validate_with_exit_2_and_no_traceback(path, capsys):
    expected = read_expectation(path)
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert f"{expected.code} " in captured.err
    if expected.file == path.resolve():
        assert f":{expected.line}:{expected.column}: {expected.code}" in captured.err
    else:  # inside a fragment: shown after the spec's `use:` entry that brought it in
        first = captured.err.splitlines()[0]
        assert first.startswith(f"{path}:") and f": {expected.code} " in first, first
        assert re.search(rf"= in fragment: \S+:{expected.line}:{expected.column}$", captured.err,
                         re.M)


#: (overrides, code, file, line, column) for problems in `--set` arguments.
SET_CASES = [
    (["optimizer.lr"], "E203", "--set #1", 1, 1),
    (["a..b=1"], "E203", "--set #1", 1, 1),
    (["optimizer.lr=0.5", "=3"], "E203", "--set #2", 1, 1),
    (["network.layers.9.units=3"], "E204", "--set #1", 1, 1),
    (["name.first=x"], "E204", "--set #1", 1, 1),
    (["network.layers.first.units=3"], "E204", "--set #1", 1, 1),
    (["trainer.max_epochs=x"], "E303", "--set #1", 1, 20),
    (["name=[unclosed"], "E101", "--set #1", 1, 15),
    (["data=!!python/object/apply:os.system [ls]"], "E105", "--set #1", 1, 6),
]


@pytest.mark.parametrize("overrides, code, file, line, column", SET_CASES,
                         ids=[f"{case[1]}-{'_'.join(case[0])}" for case in SET_CASES])
def test_set_override_case(overrides, code, file, line, column, capsys):
    compiled = compile_spec(QUICKSTART, overrides)
    assert not compiled.ok
    places = [(item.span.file, item.span.line, item.span.column, item.span.origin)
              for item in compiled.diagnostics if item.code == code and item.span]
    assert (file, line, column, "--set") in places, compiled.diagnostics
    arguments = ["validate", str(QUICKSTART)]
    for override in overrides:
        arguments += ["--set", override]
    assert main(arguments) == 2
    error_text = capsys.readouterr().err
    assert "Traceback" not in error_text
    assert f"{file}:{line}:{column}: {code}" in error_text
    assert "= from: a --set override" in error_text


def test_missing_spec_file_is_e107(tmp_path, capsys):
    missing = tmp_path / "nowhere.yaml"
    compiled = compile_spec(missing)
    assert [item.code for item in compiled.diagnostics] == ["E107"]
    assert main(["validate", str(missing)]) == 2
    assert "E107" in capsys.readouterr().err


def test_every_code_has_a_case():
    covered = {read_expectation(path).code for path in CASE_FILES} | {case[1] for case in SET_CASES}
    missing = set(CODES) - covered
    assert not missing, f"codes without an invalid-spec case: {sorted(missing)}"
    assert len(CASE_FILES) >= 40
