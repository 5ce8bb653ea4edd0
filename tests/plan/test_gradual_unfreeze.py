"""`gradual_unfreeze` expanded by the plan stage into ordinary `train` phases: what each stage
trains and freezes, its epochs and rate, its record in plan.json, and its diagnostics placed at
the phase that was written."""

from __future__ import annotations

from nndsl.api import compile_spec

SPEC = """
nndsl: 1
name: gradual
seed: 1
use: [std:blocks/dense]
data: {source: digits}
network:
  layers:
    - {block: dense, repeat: 2, name: "enc{index}", with: {units: 8, activation: tanh}}
    - {name: drop, type: dropout, p: 0.1}
    - {name: head, type: linear, units: 10}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.2}
cuts: units
trainer: {max_epochs: 7}
schedule:
"""


def _compile(tmp_path, schedule: str):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC + schedule)
    return compile_spec(path)


def test_units_from_the_top_with_epochs_and_rates(tmp_path):
    compiled = _compile(tmp_path, """  - {phase: joint}
  - {phase: gradual_unfreeze, epochs: [1, 2, 3], lr_multipliers: [1, 0.5, 0.25]}
  - {phase: joint}
""")
    assert compiled.ok, compiled.diagnostics
    phases = compiled.plan.phases
    # The other phases keep the names they have without the expansion (by position).
    assert [phase.name for phase in phases] == [
        "joint-1", "gradual_unfreeze-1", "gradual_unfreeze-2", "gradual_unfreeze-3", "joint-3"]
    stages = phases[1:4]
    # The parameter-free `drop` unit is no stage of its own: it comes with the one below it.
    assert [tuple(phase.trainable) for phase in stages] == [
        ("head",), ("enc2.linear", "enc2.dropout", "drop", "head"),
        ("enc1.linear", "enc1.dropout", "enc2.linear", "enc2.dropout", "drop", "head")]
    assert tuple(stages[0].frozen) == ("enc1.linear", "enc1.dropout", "enc2.linear", "enc2.dropout",
                                "drop")
    assert [phase.stop.max_epochs for phase in stages] == [1, 2, 3]
    assert [phase.optimizer.lr for phase in stages] == [0.2, 0.1, 0.05]
    assert [group.lr for phase in stages for group in phase.parameter_groups] == [0.2, 0.1, 0.05]
    assert [(phase.stage.phase, phase.stage.number, phase.stage.stages, phase.stage.unfrozen)
            for phase in stages] == [("gradual_unfreeze", 1, 3, ("head",)),
                                     ("gradual_unfreeze", 2, 3, ("enc2",)),
                                     ("gradual_unfreeze", 3, 3, ("enc1",))]
    assert phases[0].stage is None and phases[0].optimizer.lr == 0.2
    recorded = compiled.plan.to_dict()["phases"][2]
    assert recorded["kind"] == "train" and recorded["stage"]["lr_multiplier"] == 0.5


def test_by_cuts_with_fewer_stages_and_shared_epochs(tmp_path):
    compiled = _compile(tmp_path, """  - {phase: gradual_unfreeze, name: thaw, by: cuts, stages: 2, epochs: 4,
     optimizer: {type: adam, lr: 0.01}}
""")
    assert compiled.ok, compiled.diagnostics
    first, second = compiled.plan.phases
    assert (first.name, second.name) == ("thaw-1", "thaw-2")
    # C3 (above `drop`) and C2 (above enc2) train the same parameters: C3 alone is a stage.
    assert first.stage.unfrozen == ("classifier:C3",) and tuple(first.trainable) == ("head",)
    assert second.stage.unfrozen == ("classifier:C1",)
    assert tuple(second.trainable) == ("enc2.linear", "enc2.dropout", "drop", "head")
    assert first.optimizer.type == "adam" and second.optimizer.lr == 0.01
    assert first.stop.max_epochs == second.stop.max_epochs == 4


def test_init_from_of_the_phase_goes_to_its_first_stage(tmp_path):
    import torch

    torch.save({"layers.head.0.weight": torch.zeros(10, 8), "layers.head.0.bias": torch.zeros(10)},
               tmp_path / "head.pt")
    compiled = _compile(tmp_path, """  - {phase: gradual_unfreeze, stages: 2,
     init_from: {path: head.pt, select: [head]}}
""")
    assert compiled.ok, compiled.diagnostics
    first, second = compiled.plan.phases
    assert [layer.layer for layer in first.init.layers] == ["head"] and second.init is None


def test_problems_are_placed_at_the_written_phase(tmp_path):
    compiled = _compile(tmp_path, """  - {phase: joint}
  - {phase: gradual_unfreeze, stages: 5, lr_multipliers: [1, 0.5]}
""")
    found = {(item.code, item.span.line, item.span.column) for item in compiled.diagnostics}
    # Line 18 is the gradual_unfreeze entry: `stages` at column 39, the multipliers at 58.
    assert found == {("E469", 18, 39), ("E469", 18, 58)}
    messages = " / ".join(item.message for item in compiled.diagnostics)
    assert "5 stages, but only 3 units" in messages and "2 lr_multipliers for 5 stages" in messages


def test_a_warmup_filling_a_stage_is_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("optimizer: {type: sgd, lr: 0.2}",
                                 "optimizer: {type: sgd, lr: 0.2, scheduler: {type: cosine, "
                                 "warmup: 2}}")
                    + "  - {phase: gradual_unfreeze, epochs: [3, 2, 3]}\n")
    compiled = compile_spec(path)
    assert [item.code for item in compiled.diagnostics] == ["E463"]
    assert "stage of 2 epochs" in compiled.diagnostics[0].message


def test_cuts_needed_and_stage_names_must_be_free(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("cuts: units\n", "") + "  - {phase: gradual_unfreeze, by: cuts}\n")
    compiled = compile_spec(path)
    assert [item.code for item in compiled.diagnostics] == ["E469"]
    assert "no cuts" in compiled.diagnostics[0].message
    clash = _compile(tmp_path, """  - {phase: joint, name: thaw-2}
  - {phase: gradual_unfreeze, name: thaw}
""")
    assert [item.code for item in clash.diagnostics] == ["E469"]
    assert "`thaw-2`" in clash.diagnostics[0].message


def test_multipliers_need_a_rate_from_the_optimiser(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("trainer:", "tempering: {global_lr: 0.3}\ntrainer:")
                    + "  - {phase: gradual_unfreeze, lr_multipliers: [1, 0.5, 0.5]}\n")
    compiled = compile_spec(path)
    assert [item.code for item in compiled.diagnostics] == ["E469"]
    assert "global_lr" in compiled.diagnostics[0].message
