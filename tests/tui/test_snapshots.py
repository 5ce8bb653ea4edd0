"""Snapshots (pytest-textual-snapshot) of the main screens at 80×24.

After an intended change of the UI, look at the report and accept with
`python -m pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import BROKEN_SPEC, REPO

from nndsl.tui.app import NndslApp

pytest.importorskip("pytest_textual_snapshot")


@pytest.fixture(autouse=True)
def in_repository(monkeypatch):
    # Relative spec paths, so the status line is the same on every machine.
    monkeypatch.chdir(REPO)


def test_spec_pane_of_a_valid_spec(snap_compare):
    assert snap_compare(NndslApp("specs/quickstart.yaml"), terminal_size=(80, 24))


def test_graph_in_the_first_top_down_attempt_unfolded(snap_compare):
    assert snap_compare(
        NndslApp("specs/topdown_blstm_ctc.yaml"), press=["3", "n", "f"], terminal_size=(80, 24)
    )


def test_plan_of_a_tempered_spec(snap_compare):
    assert snap_compare(
        NndslApp("specs/family_relations_tempered.yaml"), press=["4"], terminal_size=(80, 24)
    )


def test_invalid_spec_at_its_second_error(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.yaml").write_text(BROKEN_SPEC)
    assert snap_compare(NndslApp("broken.yaml"), press=["e", "e"], terminal_size=(80, 24))


def test_help_screen(snap_compare):
    assert snap_compare(
        NndslApp("specs/quickstart.yaml"), press=["question_mark"], terminal_size=(80, 24)
    )


def test_graph_pane_of_an_invalid_spec(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "specs" / "quickstart.yaml", tmp_path / "spec.yaml")
    (tmp_path / "spec.yaml").write_text(
        (tmp_path / "spec.yaml").read_text().replace("units: 10", "units: x")
    )
    assert snap_compare(NndslApp("spec.yaml"), press=["3"], terminal_size=(80, 24))
