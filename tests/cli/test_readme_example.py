"""The README's "what an error looks like" is the real output of `nndsl validate` today."""

from __future__ import annotations

import re
from pathlib import Path

from nndsl.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_readme_error_example_is_current(capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\n\$ nndsl validate (broken\.yaml[^\n]*)\n(.*?)```", readme, re.DOTALL)
    assert block, "the README's error example is missing"
    arguments, expected = block.group(1).split(), block.group(2)
    monkeypatch.chdir(Path(__file__).parent)  # tests/cli/broken.yaml is the README's broken.yaml
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["validate", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out + captured.err == expected
