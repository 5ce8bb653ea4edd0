"""Resolve stage: fragments merged under the spec, blocks expanded, --set overrides applied."""

from __future__ import annotations

from pathlib import Path

from spec_texts import MINIMAL_SPEC

from nndsl.api import compile_spec
from nndsl.diagnostics import DiagnosticList
from nndsl.resolve import resolve
from nndsl.source import locate, parse_document, to_plain


def resolved(text: str, overrides: list[str] | None = None, path: str = "spec.yaml"):
    diagnostics = DiagnosticList()
    document = parse_document(text, path, diagnostics)
    assert document is not None, diagnostics.items
    result = resolve(document, overrides or [], diagnostics)
    return result, diagnostics


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_user_values_win_over_presets_and_later_fragments_over_earlier(tmp_path):
    write(tmp_path, "first.yaml", "# first\nfragment: preset\nspec:\n  seed: 1\n"
          "  optimizer: {type: sgd, lr: 0.5, momentum: 0.9}\n  trainer: {max_epochs: 3}\n")
    write(tmp_path, "second.yaml", "# second\nfragment: preset\nspec:\n  trainer: {max_epochs: 4, "
          "min_epochs: 2}\n")
    text = MINIMAL_SPEC.replace("name: t\n", "name: t\nuse: [first.yaml, second.yaml]\n")
    result, diagnostics = resolved(text, path=str(tmp_path / "spec.yaml"))
    assert not diagnostics.items
    plain = to_plain(result.root)
    assert plain["seed"] == 1
    # mappings merge key by key: the spec's lr wins, the preset's momentum stays
    assert plain["optimizer"] == {"type": "sgd", "lr": 0.1, "momentum": 0.9}
    assert plain["trainer"] == {"max_epochs": 4, "min_epochs": 2}
    assert locate(result.root, ("optimizer", "momentum")).origin == "fragment"
    assert locate(result.root, ("optimizer", "lr")).origin == "spec"


def test_lists_from_the_spec_replace_fragment_lists_whole():
    text = MINIMAL_SPEC + ("cuts: units\nuse: [std:schedules/top_down_greedy]\n"
                   "schedule:\n  - {phase: joint}\n")
    result, diagnostics = resolved(text)
    assert not diagnostics.items
    assert to_plain(result.root)["schedule"] == [{"phase": "joint"}]


def test_values_from_a_stdlib_fragment_carry_its_origin():
    text = MINIMAL_SPEC.replace("optimizer: {type: sgd, lr: 0.1}\n", "use: [std:presets/adadelta_espnet]\n")
    result, diagnostics = resolved(text)
    assert not diagnostics.items
    span = locate(result.root, ("optimizer", "rho"))
    assert span.origin == "std:presets/adadelta_espnet"
    assert span.file == "std:presets/adadelta_espnet"
    assert "std:presets/adadelta_espnet" in result.sources


def test_blocks_expand_into_named_groups_with_prefixed_layer_names():
    text = MINIMAL_SPEC.replace("name: t\n", "name: t\nuse: [std:blocks/blstm_projection]\n").replace(
        "data: {source: digits}", "data: {source: synthetic_speech}").replace(
        "    - {name: hidden, type: linear, units: 32, activation: tanh}\n",
        '    - {block: blstm_projection, repeat: 2, name: "enc{index}", with: {hidden: 64}}\n')
    result, diagnostics = resolved(text)
    assert not diagnostics.items
    layers = to_plain(result.root)["network"]["layers"]
    assert [item.get("group") for item in layers] == ["enc1", "enc2", None]
    assert [layer["name"] for layer in layers[0]["layers"]] == \
        ["enc1.blstm", "enc1.projection", "enc1.dropout"]
    assert layers[1]["layers"][0] == {"name": "enc2.blstm", "type": "blstm", "hidden": 64}
    assert layers[1]["layers"][2]["p"] == 0.0  # the block's default
    # a whole-string template takes the `with:` value and its place in the spec
    hidden = locate(result.root, ("network", "layers", 1, "layers", 0, "hidden"))
    assert (hidden.origin, hidden.line) == ("spec", 7)
    # everything else in the group was written in the stdlib fragment
    blstm_type = locate(result.root, ("network", "layers", 0, "layers", 0, "type"))
    assert blstm_type.origin == "std:blocks/blstm_projection"


def test_block_default_names_and_parameter_defaults():
    text = MINIMAL_SPEC.replace("name: t\n", "name: t\nuse: [std:blocks/dense]\n").replace(
        "    - {name: hidden, type: linear, units: 32, activation: tanh}\n",
        "    - {block: dense}\n    - {block: dense, repeat: 2}\n")
    result, diagnostics = resolved(text)
    assert not diagnostics.items
    layers = to_plain(result.root)["network"]["layers"]
    assert [item.get("group") for item in layers] == ["dense", "dense1", "dense2", None]
    assert layers[0]["layers"][0]["units"] == 64


def test_set_values_are_typed_by_yaml_and_reach_list_items():
    result, diagnostics = resolved(MINIMAL_SPEC, ["optimizer.lr=0.5", "network.layers.0.units=128",
                                          "trainer.deterministic=false", "metrics=[accuracy]",
                                          "optimizer.momentum=0.9", "name=007"])
    assert not diagnostics.items
    plain = to_plain(result.root)
    assert plain["optimizer"] == {"type": "sgd", "lr": 0.5, "momentum": 0.9}
    assert plain["network"]["layers"][0]["units"] == 128
    assert plain["trainer"] == {"deterministic": False}
    assert plain["metrics"] == ["accuracy"]
    assert plain["name"] == 7  # YAML types it as a number; the spec stage then rejects it
    span = locate(result.root, ("network", "layers", 0, "units"))
    assert (span.file, span.origin, span.line, span.column) == ("--set #2", "--set", 1, 24)
    assert result.sources["--set #2"] == "network.layers.0.units=128"


def test_overrides_apply_in_order_and_after_fragments():
    text = MINIMAL_SPEC.replace("optimizer: {type: sgd, lr: 0.1}\n", "use: [std:presets/adadelta_espnet]\n")
    result, diagnostics = resolved(text, ["optimizer.rho=0.5", "optimizer.rho=0.7"])
    assert not diagnostics.items
    assert to_plain(result.root)["optimizer"]["rho"] == 0.7


def test_an_override_with_a_mapping_replaces_the_fragments_mapping_whole():
    # Applied before the fragment, the override would merge under it and keep rho and eps.
    text = MINIMAL_SPEC.replace("optimizer: {type: sgd, lr: 0.1}\n", "use: [std:presets/adadelta_espnet]\n")
    result, diagnostics = resolved(text, ["optimizer={type: sgd, lr: 0.3}"])
    assert not diagnostics.items
    assert to_plain(result.root)["optimizer"] == {"type": "sgd", "lr": 0.3}
    spec = compile_spec("spec.yaml", ["optimizer={type: sgd, lr: 0.3}"], text=text).raise_for_errors().spec
    assert spec.optimizer.type == "sgd" and spec.optimizer.lr == 0.3


def test_set_problems_are_e203_and_e204():
    _, diagnostics = resolved(MINIMAL_SPEC, ["optimizer.lr", "network.layers.5.units=1", "name.first=x",
                                     "network.layers.x=1"])
    assert [item.code for item in diagnostics.items] == ["E203", "E204", "E204", "E204"]
    assert "past the end of a list of 2" in diagnostics.items[1].message


def test_use_cannot_be_overridden_since_fragments_load_first():
    result, diagnostics = resolved(MINIMAL_SPEC, ["use=[std:presets/adadelta_espnet]"])
    assert [item.code for item in diagnostics.items] == ["E204"]
    assert "`use` cannot be set" in diagnostics.items[0].message
    assert to_plain(result.root)["optimizer"] == {"type": "sgd", "lr": 0.1}


def test_fragment_cycles_and_missing_fragments(tmp_path):
    write(tmp_path, "a.yaml", "# a\nfragment: preset\nuse: [b.yaml]\nspec: {seed: 1}\n")
    write(tmp_path, "b.yaml", "# b\nfragment: preset\nuse: [a]\nspec: {seed: 2}\n")
    text = MINIMAL_SPEC.replace("name: t\n", "name: t\nuse: [a.yaml, nothere.yaml]\n")
    spec = write(tmp_path, "spec.yaml", text)
    compiled = compile_spec(spec)
    by_code = {item.code: item for item in compiled.diagnostics}
    assert set(by_code) == {"E201", "E202"}
    assert "a.yaml -> b.yaml -> a.yaml" in by_code["E202"].message
    assert by_code["E202"].span.file.endswith("b.yaml")


def test_a_fragment_used_twice_is_loaded_once():
    text = MINIMAL_SPEC.replace("name: t\n", "name: t\nuse: [std:blocks/dense, std:blocks/dense]\n")
    result, diagnostics = resolved(text)
    assert not diagnostics.items and list(result.blocks) == ["dense"]


def test_paths_the_system_refuses_are_user_errors_not_crashes():
    long_name = "x" * 5000  # longer than any file system allows (ENAMETOOLONG)
    for use in (long_name, f"std:blocks/{long_name}", "a\\0b"):
        text = MINIMAL_SPEC.replace("name: t\n", f'name: t\nuse: ["{use}"]\n')
        compiled = compile_spec("spec.yaml", text=text)
        assert [item.code for item in compiled.diagnostics] == ["E201"]
    text = MINIMAL_SPEC.replace("source: digits", f"source: npz, path: {long_name}")
    compiled = compile_spec("spec.yaml", text=text)
    assert [item.code for item in compiled.diagnostics] == ["E412"]


def test_a_runs_resolved_spec_compiles_to_the_same_graph(tmp_path):
    """A run's spec.yaml (blocks already expanded into groups that name their block) is what
    `nndsl predict` and `export` compile again: its groups are kept, not expanded twice."""
    from nndsl.run.rundir import spec_text

    quickstart = Path(__file__).resolve().parents[2] / "specs" / "quickstart.yaml"
    original = compile_spec(quickstart).raise_for_errors()
    text, _ = spec_text(to_plain(original.resolved.root))
    again = compile_spec(quickstart, [], text=text)
    assert again.ok, again.diagnostics
    assert again.graph.to_dict() == original.graph.to_dict()
