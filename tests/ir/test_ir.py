"""IR stage: the graph (wiring, units, shapes, sizes) and its fit to the data and the loss."""

from __future__ import annotations

from spec_texts import MINIMAL_SPEC, compile_text


def test_layers_read_the_previous_layer_unless_they_name_inputs():
    text = MINIMAL_SPEC.replace("    - {name: out",
                                "    - {name: side, type: linear, units: 8, inputs: input}\n"
                                "    - {name: both, type: concat, inputs: [hidden, side]}\n"
                                "    - {name: out")
    graph = compile_text(text).graph
    assert graph.predecessors("hidden") == ["input"]
    both = graph.node("both")
    assert both.inputs == ("hidden", "side") and both.output_shape == (40,)
    assert graph.predecessors("out") == ["both"]
    assert graph.order == ("hidden", "side", "both", "out") and graph.output == "out"
    assert [unit.name for unit in graph.units] == ["hidden", "side", "both", "out"]


def test_a_group_name_stands_for_its_last_layer():
    text = MINIMAL_SPEC.replace("name: t\n", "name: t\nuse: [std:blocks/dense]\n").replace(
        "    - {name: hidden, type: linear, units: 32, activation: tanh}\n",
        "    - {block: dense, name: body, with: {units: 32}}\n"
        "    - {name: skip, type: linear, units: 32, inputs: input}\n"
        "    - {name: sum, type: add, inputs: [body, skip]}\n")
    graph = compile_text(text).graph
    assert graph.node("sum").inputs == ("body.dropout", "skip")
    assert graph.units[0].nodes == ("body.linear", "body.dropout")
    assert graph.units[0].block == "dense"
    assert graph.match_names("body") == ["body.linear", "body.dropout"]


def test_network_output_may_name_an_earlier_layer_when_all_lead_to_it():
    hidden = "    - {name: hidden, type: linear, units: 32, activation: tanh}\n"
    text = MINIMAL_SPEC.replace(hidden, "").replace("  layers:", "  output: out\n  layers:")
    assert compile_text(text).graph.output == "out"


def test_symbolic_lengths_flow_through_convolution_and_pooling():
    text = ("nndsl: 1\nname: t\nuse: [std:blocks/conv_pair]\ndata: {source: synthetic_speech}\n"
            "network:\n  layers:\n    - {name: image, type: add_channel}\n"
            "    - {block: conv_pair, name: vgg, with: {channels: 4}}\n"
            "    - {name: frames, type: to_sequence}\n    - {name: rnn, type: gru, hidden: 8}\n"
            "    - {name: out, type: linear, units: 21}\n"
            "loss: {type: ctc}\noptimizer: {type: adadelta}\n")
    graph = compile_text(text).graph
    assert graph.node("image").output_shape == (1, "T", 40)
    assert graph.node("vgg.pool").output_shape == (4, "T/2", 20)
    assert graph.node("frames").output_shape == ("T/2", 80)
    assert graph.node("rnn").parameter_count == 3 * 8 * (80 + 8) + 2 * 3 * 8  # torch.nn.GRU layout
    assert graph.node("out").output_shape == ("T/2", 21)


def test_to_dict_is_plain_data():
    dump = compile_text(MINIMAL_SPEC).graph.to_dict()
    assert dump["input_shape"] == [64] and dump["parameters"] == 65 * 32 + 33 * 10
    assert dump["nodes"][0] == {
        "name": "hidden", "type": "linear", "inputs": ["input"], "output_shape": [32],
        "parameters": 2080, "activation": "tanh", "unit": "hidden",
        "params": {"units": 32, "activation": "tanh", "bias": True, "init": "default",
                   "init_scale": 0.1}}


def test_a_wider_output_than_the_classes_is_only_a_warning():
    compiled = compile_text(MINIMAL_SPEC.replace("units: 10", "units: 12"))
    (item,) = compiled.diagnostics
    assert (item.code, item.severity) == ("E505", "warning")
    assert compiled.ok and compiled.plan is not None


def test_binary_cross_entropy_needs_one_score_per_target_exactly():
    text = ("nndsl: 1\nname: t\ndata: {source: family_relations, valid_fraction: 0}\n"
            "network:\n  layers:\n"
            "    - {name: out, type: linear, units: 30, activation: logistic}\n"
            "loss: {type: binary_cross_entropy}\noptimizer: {type: sgd, lr: 0.1}\n"
            "schedule: [{phase: joint, stop: {monitor: train/loss}}]\n")
    (item,) = compile_text(text).diagnostics
    assert (item.code, item.severity, item.hint) == ("E505", "error", "set `units: 24` on `out`")
    assert "24 targets" in item.message


def test_ctc_output_counts_the_blank_and_keeps_time():
    text = ("nndsl: 1\nname: t\ndata: {source: synthetic_speech}\nnetwork:\n  layers:\n"
            "    - {name: rnn, type: lstm, hidden: 8, output: last}\n"
            "    - {name: out, type: linear, units: 21}\n"
            "loss: {type: ctc}\noptimizer: {type: adadelta}\n")
    (item,) = compile_text(text).diagnostics
    assert item.code == "E505" and "[T, classes]" in item.message
    narrow = text.replace(", output: last", "").replace("units: 21", "units: 20")
    (item,) = compile_text(narrow).diagnostics
    assert item.code == "E505" and "21 labels (the blank included)" in item.message


def test_a_declared_input_shape_must_match_the_data():
    declared = MINIMAL_SPEC.replace("  layers:", "  input: {shape: [64]}\n  layers:")
    assert compile_text(declared).ok
    (item,) = compile_text(declared.replace("[64]", "[65]")).diagnostics
    assert item.code == "E502" and "[65]" in item.message and "[64]" in item.message
    speech = ("nndsl: 1\nname: t\ndata: {source: synthetic_speech}\n"
              "network:\n  input: {shape: [time, 40]}\n"
              "  layers:\n    - {name: out, type: linear, units: 21}\nloss: {type: ctc}\n"
              "optimizer: {type: adadelta}\n")
    assert compile_text(speech).ok  # any name marks the variable length
    assert compile_text(speech.replace("[time, 40]", "[100, 40]")).diagnostics[0].code == "E502"
