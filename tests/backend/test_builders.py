"""Config and build cannot drift: for every layer type in the registry, the built module's output
shape equals the IR's inferred `output_shape`, and its trainable parameter count equals the
registry's `parameter_count` (what `nndsl show` prints).

Each case gives a type, its parameters and one example's input shapes as the IR writes them
(with the symbolic length "T"); the test builds the module through the registry, runs a batch
whose sequences are `LENGTH` long, and compares with the shape rule evaluated at T = LENGTH.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from nndsl.api import compile_spec
from nndsl.backend.graph_module import GraphModule
from nndsl.ir import Graph
from nndsl.layers import LAYERS
from nndsl.state_names import is_buffer, module_key

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))

LENGTH = 13  # odd, so that pooling and striding must round like the shape rule does
BATCH = 3


@dataclass(frozen=True)
class Case:
    id: str
    type: str
    params: dict[str, Any]
    inputs: tuple[tuple[int | str, ...], ...]
    integer_inputs: bool = False  # token ids (embedding)
    time_axis: int | None = None  # the input's time axis (of one example) when lengths apply


CASES = [
    Case("linear-sequence", "linear", {"units": 5, "activation": "tanh"}, (("T", 8),)),
    Case("linear-no-bias", "linear", {"units": 4, "bias": False, "init": "uniform"}, ((6,),)),
    Case("lwta", "lwta", {"blocks": 3, "block_size": 4}, ((7,),)),
    Case("whitened_linear", "whitened_linear", {"units": 5, "activation": "relu"}, ((6,),)),
    Case("variational_dropout-activations-neuron", "variational_dropout", {}, (("T", 6),)),
    Case("variational_dropout-activations-layer", "variational_dropout", {"granularity": "layer"},
         ((6,),)),
    Case("variational_dropout-B-neuron", "variational_dropout", {"units": 5, "variant": "B"},
         ((6,),)),
    Case("variational_dropout-B-weight", "variational_dropout",
         {"units": 5, "variant": "B", "granularity": "weight", "activation": "tanh"}, ((6,),)),
    Case("variational_dropout-B-layer", "variational_dropout",
         {"units": 5, "variant": "B", "granularity": "layer"}, ((6,),)),
    Case("variational_dropout-A-neuron", "variational_dropout", {"units": 5, "variant": "A"},
         ((6,),)),
    Case("variational_dropout-A-layer", "variational_dropout",
         {"units": 5, "variant": "A", "granularity": "layer"}, (("T", 6),)),
    Case("embedding", "embedding", {"vocabulary": 11, "dim": 4}, (("T",),), integer_inputs=True),
    Case("activation", "activation", {"function": "softmax"}, (("T", 6),)),
    Case("layer_norm", "layer_norm", {}, (("T", 6),)),
    Case("batch_norm-maps", "batch_norm", {}, ((3, 5, 4),)),
    Case("batch_norm-sequence", "batch_norm", {}, (("T", 6),)),
    Case("dropout", "dropout", {"p": 0.3}, ((6,),)),
    Case("gaussian_dropout", "gaussian_dropout", {"p": 0.3}, (("T", 6),)),
    Case("conv1d-same", "conv1d", {"channels": 4, "kernel": 3, "padding": "same"}, ((3, 16),)),
    Case("conv1d-strided-over-time", "conv1d", {"channels": 4, "kernel": 3, "stride": 2},
         ((3, "T"),), time_axis=1),
    Case("conv2d-same", "conv2d",
         {"channels": 4, "kernel": 3, "padding": "same", "activation": "relu"},
         ((1, "T", 8),), time_axis=1),
    Case("conv2d-strided", "conv2d",
         {"channels": 2, "kernel": [3, 2], "stride": [2, 2], "padding": 1},
         ((3, "T", 9),), time_axis=1),
    Case("conv2d-fixed", "conv2d", {"channels": 2, "kernel": 3, "stride": 2}, ((1, 8, 8),)),
    Case("maxpool-2d-over-time", "maxpool", {"kernel": 2}, ((4, "T", 8),), time_axis=1),
    Case("maxpool-1d-strided", "maxpool", {"kernel": 3, "stride": 2}, ((3, 10),)),
    Case("flatten", "flatten", {}, ((2, 3, 4),)),
    Case("add_channel", "add_channel", {}, (("T", 5),)),
    Case("to_sequence", "to_sequence", {}, ((3, "T", 4),)),
    Case("lstm", "lstm", {"hidden": 5}, (("T", 6),), time_axis=0),
    Case("lstm-projection", "lstm", {"hidden": 7, "projection": 3}, (("T", 6),), time_axis=0),
    Case("lstm-projection-2-layers-bidirectional", "lstm",
         {"hidden": 7, "projection": 3, "layers": 2, "bidirectional": True}, (("T", 6),),
         time_axis=0),
    Case("blstm", "blstm", {"hidden": 4}, (("T", 6),), time_axis=0),
    Case("blstm-projection", "blstm", {"hidden": 8, "projection": 5}, (("T", 6),), time_axis=0),
    Case("gru", "gru", {"hidden": 5, "layers": 2}, (("T", 6),), time_axis=0),
    Case("rnn-last", "rnn", {"hidden": 5, "output": "last", "nonlinearity": "relu"}, (("T", 6),),
         time_axis=0),
    Case("blstm-last", "blstm", {"hidden": 4, "output": "last"}, (("T", 6),), time_axis=0),
    Case("slice", "slice", {"start": 2, "stop": 7}, (("T", 10),)),
    Case("concat-features", "concat", {}, (("T", 3), ("T", 4))),
    Case("concat-axis-0", "concat", {"axis": 0}, ((2, 5), (3, 5))),
    Case("add", "add", {}, (("T", 4), ("T", 4), ("T", 4))),
    Case("hmm_likelihood", "hmm_likelihood", {"models": 3, "states": 2}, (("T", 4),)),
    Case("hmm_likelihood-mixture", "hmm_likelihood", {"models": 2, "states": 3, "kind": "mixture"},
         (("T", 4),)),
    Case("pairwise_relative", "pairwise_relative", {}, ((4,),)),
    Case("predictor_bank", "predictor_bank", {"predictors": 4, "context": 2, "hidden": 3},
         (("T", 5),)),
    Case("predictor_bank-hidden-control", "predictor_bank",
         {"predictors": 6, "hidden": 3, "networks": 2}, (("T", 5),)),
    Case("self_attention", "self_attention", {"heads": 2}, (("T", 8),)),
    Case("self_attention-causal-no-bias", "self_attention",
         {"heads": 4, "causal": True, "bias": False,
                                                              "dropout": 0.1}, (("T", 8),)),
    Case("cross_attention", "cross_attention", {"heads": 2}, (("T", 8), (7, 6))),
    Case("positional_encoding-sinusoidal", "positional_encoding", {}, (("T", 6),)),
    Case("positional_encoding-learned", "positional_encoding",
         {"kind": "learned", "max_length": 20}, (("T", 6),)),
    Case("avgpool-2d-over-time", "avgpool", {"kernel": 2}, ((4, "T", 8),), time_axis=1),
    Case("avgpool-1d-strided", "avgpool", {"kernel": 3, "stride": 2}, ((3, 10),)),
    Case("global_pool-maps", "global_pool", {"reduce": "max"}, ((3, 5, 4),)),
    Case("global_pool-sequence", "global_pool", {}, (("T", 6),)),
    Case("global_pool-channels-first", "global_pool", {"reduce": "max"}, ((4, "T"),)),
    Case("conv_transpose-1d-over-time", "conv_transpose",
         {"channels": 4, "kernel": 4, "stride": 2, "padding": 1},
         ((3, "T"),), time_axis=1),
    Case("conv_transpose-2d-grouped", "conv_transpose",
         {"channels": 4, "kernel": [3, 2], "stride": 2, "output_padding": 1, "groups": 2,
          "activation": "silu"},
         ((2, 5, 4),)),
    Case("conv1d-depthwise", "conv1d", {"channels": 6, "kernel": 3, "groups": "depthwise"},
         ((3, "T"),),
         time_axis=1),
    Case("conv2d-grouped", "conv2d", {"channels": 4, "kernel": 3, "groups": 2, "padding": "same"},
         ((6, 7, 7),)),
    Case("rms_norm", "rms_norm", {}, (("T", 6),)),
    Case("activation-silu", "activation", {"function": "silu"}, (("T", 6),)),
    Case("activation-gelu", "activation", {"function": "gelu"}, ((6,),)),
    Case("scale", "scale", {"factor": 0.5}, (("T", 6),)),
    Case("glu-last", "glu", {}, (("T", 6),)),
    Case("glu-channels", "glu", {"axis": 0}, ((6, "T"),)),
    Case("transpose", "transpose", {}, (("T", 6),)),
    Case("ica-real", "ica", {}, ((3,),)),
    Case("ica-complex-frames", "ica", {"complex": True}, ((4, 9, 2, 2),)),
    Case("log_mel", "log_mel", {"mels": 5}, ((4, 9, 2, 2),)),
    Case("fir_channel", "fir_channel", {"taps": [0.5, 0.25]}, (("T", 3),)),
    Case("fir_channel-window-last", "fir_channel", {"taps": [0.5, 0.25], "keep": "last"},
         ((4, 3),)),
    Case("fir_channel-flat", "fir_channel", {"taps": [0.5, 0.25]}, ((5,),)),
    Case("fir_channel-flat-last", "fir_channel", {"taps": [0.5, 0.25], "keep": "last"}, ((5,),)),
    Case("cubic_speaker", "cubic_speaker", {"a": 0.1}, ((3,),)),
]


def concrete(dim: int | str, length: int = LENGTH) -> int:
    """A shape rule's dimension at T = `length`: "T/2" is floor(T / 2), "(T-3)/2+1" likewise."""
    if isinstance(dim, int):
        return dim
    expression = dim.replace("T", str(length)).replace("/", "//")
    assert re.fullmatch(r"[0-9+\-*/() ]+", expression), dim
    return int(eval(expression, {"__builtins__": {}}))  # noqa: S307  (digits and operators only)


def make_inputs(case: Case) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    tensors = []
    for shape in case.inputs:
        size = (BATCH, *(concrete(dim) for dim in shape))
        if case.integer_inputs:
            tensors.append(torch.randint(0, case.params["vocabulary"], size, generator=generator))
        else:
            tensors.append(torch.randn(size, generator=generator).requires_grad_())
    return tensors


def trainable_parameters(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters() if parameter.requires_grad)


def test_every_registered_layer_type_has_a_case():
    assert set(LAYERS.names()) <= {case.type for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_built_module_matches_the_shape_rule_and_parameter_count(case: Case):
    record = LAYERS.get(case.type)
    assert record is not None
    params = record.Params(**case.params)
    shapes = [tuple(shape) for shape in case.inputs]
    expected_shape = record.output_shape(params, shapes)
    torch.manual_seed(0)
    module = record.build(params, shapes)
    module.train()
    inputs = make_inputs(case)
    lengths = torch.tensor([LENGTH, LENGTH - 4, 1][:BATCH])
    if getattr(module, "takes_input_lengths", False):  # one tensor per input (None: fixed length)
        output = module(*inputs,
                        lengths=[lengths if shape[0] == "T" else None for shape in case.inputs])
    elif getattr(module, "takes_lengths", False):
        output = module(*inputs, lengths=lengths)
    else:
        output = module(*inputs)
    assert tuple(output.shape) == (BATCH,
                                   *(concrete(dim) for dim in expected_shape)), expected_shape
    assert torch.isfinite(output.float()).all()
    assert trainable_parameters(module) == record.parameter_count(params, shapes)
    # Gradients reach every trainable parameter (nothing built but left out of the forward pass).
    output.float().sum().backward()
    unused = [name for name, parameter in module.named_parameters()
              if parameter.requires_grad and parameter.grad is None]
    assert not unused


@pytest.mark.parametrize("case", [case for case in CASES if case.time_axis is not None],
                         ids=lambda case: case.id)
def test_sequence_lengths_follow_the_time_axis_of_the_shape_rule(case: Case):
    """Layers that shorten time map per-example lengths as the shape rule maps T."""
    record = LAYERS.get(case.type)
    params = record.Params(**case.params)
    shapes = [tuple(shape) for shape in case.inputs]
    expected_shape = record.output_shape(params, shapes)
    module = record.build(params, shapes)
    if not hasattr(module, "output_lengths"):
        assert params.output == "last" or expected_shape[0] == "T"  # recurrent: time unchanged
        return
    time_axis = case.time_axis
    for length in (LENGTH, 8, 5):
        mapped = module.output_lengths(torch.tensor([length]))
        assert int(mapped[0]) == concrete(expected_shape[time_axis], length)


def test_whitened_linear_buffers_are_not_trainable():
    record = LAYERS.get("whitened_linear")
    params = record.Params(units=3)
    module = record.build(params, [(4,)])
    assert trainable_parameters(module) == (4 + 1) * 3
    assert sum(buffer.numel() for buffer in module.buffers()) >= 4 * 4  # the whitening matrix


@pytest.mark.parametrize("variant, granularity", [("A", "weight")])
def test_variational_dropout_combination_without_a_module_is_refused_at_build(variant, granularity):
    """Type A has one scale per input row: per-weight rates do not exist (the check stage refuses
    the spec; the builder raises rather than building something else)."""
    record = LAYERS.get("variational_dropout")
    params = record.Params(units=3, variant=variant, granularity=granularity)
    with pytest.raises(ValueError):
        record.build(params, [(4,)])


def _graph_inputs(graph: Graph) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch for the graph's input: token ids when the first layer embeds, lengths for
    sequences."""
    first = graph.node(graph.order[0])
    size = (BATCH, *(concrete(dim) for dim in graph.input_shape))
    if first.type == "embedding":
        inputs = torch.randint(0, first.params.vocabulary, size)
    else:
        inputs = torch.randn(size)
    sequence = any(isinstance(dim, str) for dim in graph.input_shape)
    return inputs, torch.tensor([LENGTH, LENGTH - 4, 5]) if sequence else None


@pytest.mark.parametrize("spec", SPECS, ids=lambda path: path.stem)
def test_shipped_networks_build_as_their_graph_says(spec: Path):
    """Through the IR: every layer of every shipped spec's network, built by the graph module,
    has the IR's output shape and parameter count."""
    compiled = compile_spec(spec)
    assert compiled.ok, compiled.diagnostics
    graph = compiled.graph
    torch.manual_seed(0)
    network = GraphModule(graph).eval()
    outputs: dict[str, tuple[int, ...]] = {}
    for node in graph.nodes:
        module = network.layers[module_key(node.name)]
        module.register_forward_hook(
            lambda _m, _i, output, name=node.name: outputs.__setitem__(name, output.shape)
        )
    inputs, lengths = _graph_inputs(graph)
    with torch.no_grad():
        network(inputs, lengths)
    for node in graph.nodes:
        expected = (BATCH, *(concrete(dim) for dim in node.output_shape))
        assert tuple(outputs[node.name]) == expected, (node.name, node.output_shape)
        module = network.layers[module_key(node.name)]
        assert trainable_parameters(module) == node.parameter_count, node.name
    assert trainable_parameters(network) == graph.parameter_count


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_saved_buffer_is_named_where_the_plan_stage_reads_checkpoints(case: Case):
    """The plan stage counts a checkpoint's parameters without torch (`nndsl.state_names`): every
    tensor a layer saves that is not a parameter must be one of the buffer names it knows."""
    record = LAYERS.get(case.type)
    params = record.Params(**case.params)
    module = record.build(params, [tuple(shape) for shape in case.inputs])
    parameters = {name for name, _ in module.named_parameters()}
    buffers = [key for key in module.state_dict() if key not in parameters]
    assert all(is_buffer(key) for key in buffers), buffers
    assert not any(is_buffer(key) for key in parameters), parameters


def test_tempered_networks_save_only_named_buffers():
    from nndsl.backend.tempering import ErrorAttenuation

    compiled = compile_spec(SPECS[0].parent / "family_relations_tempered.yaml").raise_for_errors()
    network = GraphModule(compiled.graph, compiled.plan.tempering)
    parameters = {name for name, _ in network.named_parameters()}
    buffers = [key for key in network.state_dict() if key not in parameters]
    assert all(is_buffer(key) for key in buffers), buffers
    assert all(is_buffer(key) for key in ErrorAttenuation(0.5).state_dict())
