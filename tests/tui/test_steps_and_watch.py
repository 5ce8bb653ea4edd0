"""The phase stepper's layer sets and the file watcher, without a screen."""

from __future__ import annotations

import os

from conftest import SPECS

from nndsl.api import compile_spec
from nndsl.tui.phase_steps import FROZEN, REINITIALISED, TRAINABLE, find_step, phase_steps
from nndsl.tui.watch import FileWatcher, local_sources


def test_a_top_down_phase_steps_through_its_cuts_from_the_top():
    plan = compile_spec(SPECS / "topdown_blstm_ctc.yaml").plan
    steps = phase_steps(plan)
    assert [step.title for step in steps] == [
        "joint",
        "top_down (attempt 1/4, cut C4)",
        "top_down (attempt 2/4, cut C3)",
        "top_down (attempt 3/4, cut C2)",
        "top_down (attempt 4/4, cut C1)",
    ]
    joint, first, second = steps[:3]
    assert {joint.state(name) for name in plan.cut("C1").extractor.names + ("out",)} == {TRAINABLE}
    # The first attempt is exactly the plan's own sets.
    assert first.trainable == plan.phases[1].trainable and first.frozen == plan.phases[1].frozen
    assert first.state("out") == FROZEN and first.state("enc4.blstm") == REINITIALISED
    assert second.state("enc4.blstm") == FROZEN and second.state("enc3.projection") == REINITIALISED
    assert steps[-1].frozen == plan.cut("C1").classifier
    assert find_step(steps, second, 0) == 2
    assert find_step(steps[:2], second, 4) == 1  # gone: the old position, clamped
    assert phase_steps(None) == [] and find_step([], None, 3) == 0


def test_watcher_notices_edits_deletion_and_return(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("a: 1\n")
    watcher = FileWatcher([spec])
    assert not watcher.changed()
    spec.write_text("a: 2\n")  # same size: the modification time tells
    os.utime(spec, ns=(1, 1))
    assert watcher.changed() and not watcher.changed()
    spec.unlink()
    assert watcher.changed()
    spec.write_text("a: 3\n")
    assert watcher.changed()


def test_local_sources_skip_stdlib_fragments(tmp_path):
    fragment = tmp_path / "block.yaml"
    fragment.write_text("x: 1\n")
    paths = local_sources(
        tmp_path / "spec.yaml", [str(tmp_path / "spec.yaml"), "std:blocks/dense", str(fragment)]
    )
    assert paths == [tmp_path / "spec.yaml", fragment]
