"""IR stage: `block_input` inside a block names the block's own input, so residual blocks wire
their shortcut to whatever precedes each repetition."""

from __future__ import annotations

from nndsl.api import compile_spec

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
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    compiled = compile_spec(path)
    assert compiled.diagnostics == (), compiled.diagnostics
    graph = compiled.graph
    assert graph.node("res1.residual").inputs == ("stem", "res1.norm_b")
    assert graph.node("res2.residual").inputs == ("res1.relu", "res2.norm_b")
    assert graph.node("res2.conv_a").inputs == ("res1.relu",)


def test_block_input_outside_a_block_names_no_layer(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("inputs: [pool]", "inputs: [block_input]"))
    compiled = compile_spec(path)
    assert [diagnostic.code for diagnostic in compiled.diagnostics] == ["E402"]
