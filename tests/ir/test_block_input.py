"""IR stage: `block_input` inside a block names the block's own input, so residual blocks wire
their shortcut to whatever precedes each repetition."""

from __future__ import annotations

from spec_texts import compile_file

SPEC = """nndsl: 1
name: t
use: [std:blocks/resnet_basic]
data: {source: digits, layout: image}
network:
  layers:
    - {name: stem, type: conv2d, channels: 4, kernel: 3, padding: same}
    - {block: resnet_basic, repeat: 2, name: "res{index}", with: {channels: 4}}
    - {name: pool, type: global_pool}
    - {name: out, type: linear, units: 10, inputs: [pool]}
loss: {type: cross_entropy}
optimizer: {type: sgd, lr: 0.1}
"""


def test_block_input_wires_each_repetition_to_what_precedes_it(tmp_path):
    compiled = compile_file(tmp_path, SPEC)
    assert compiled.diagnostics == (), compiled.diagnostics
    graph = compiled.graph
    assert graph.node("res1.residual").inputs == ("stem", "res1.norm_b")
    assert graph.node("res2.residual").inputs == ("res1.relu", "res2.norm_b")
    assert graph.node("res2.conv_a").inputs == ("res1.relu",)


def test_block_input_outside_a_block_names_no_layer(tmp_path):
    compiled = compile_file(tmp_path, SPEC.replace("inputs: [pool]", "inputs: [block_input]"))
    assert [diagnostic.code for diagnostic in compiled.diagnostics] == ["E402"]


STAGE = """# A stage: residual blocks in a row.
fragment: block
doc: two resnet blocks
use: [std:blocks/resnet_basic]
params: {channels: 8}
layers:
  - {block: resnet_basic, repeat: 2, name: "res{index}", with: {channels: "${channels}"}}
"""


def test_blocks_of_blocks_name_and_wire_every_repetition(tmp_path):
    """A block made of repeated blocks: inner names count the inner repetitions and carry the
    outer group's name, and each inner block's `block_input` is what precedes that block."""
    (tmp_path / "stage.yaml").write_text(STAGE)
    inner = '{block: resnet_basic, repeat: 2, name: "res{index}", with: {channels: 4}}'
    outer = '{block: stage, repeat: 2, name: "stage{index}", with: {channels: 4}}'
    compiled = compile_file(tmp_path, SPEC.replace("use: [std:blocks/resnet_basic]", "use: [stage.yaml]")
                            .replace(inner, outer))
    assert compiled.diagnostics == (), compiled.diagnostics
    graph = compiled.graph
    assert [unit.name for unit in graph.units] == ["stem", "stage1", "stage2", "pool", "out"]
    assert graph.node("stage1.res2.residual").inputs == ("stage1.res1.relu", "stage1.res2.norm_b")
    assert graph.node("stage2.res1.residual").inputs == ("stage1.res2.relu", "stage2.res1.norm_b")
    assert graph.node("stage2.res1.conv_a").inputs == ("stage1.res2.relu",)
