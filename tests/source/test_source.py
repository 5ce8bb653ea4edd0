"""Source stage: YAML text -> located nodes, safely (tags, booleans, timestamps, merge keys)."""

from __future__ import annotations

from nndsl.diagnostics import DiagnosticList
from nndsl.source import MappingNode, ScalarNode, SequenceNode, locate, parse_document, to_plain
from nndsl.source.yaml_loader import parse_yaml


def parse(text: str) -> tuple[object, DiagnosticList]:
    diagnostics = DiagnosticList()
    return parse_yaml(text, "f.yaml", "spec", diagnostics), diagnostics


def codes(diagnostics: DiagnosticList) -> list[str]:
    return [item.code for item in diagnostics.items]


def test_every_value_and_key_knows_its_line_and_column():
    root, diagnostics = parse("a: 1\nnetwork:\n  layers:\n    - {type: linear, units: 10}\n")
    assert not diagnostics.items and isinstance(root, MappingNode)
    units = locate(root, ("network", "layers", 0, "units"))
    assert (units.line, units.column, units.end_column) == (4, 29, 31)
    key = locate(root, ("network", "layers", 0, "units"), key=True)
    assert (key.line, key.column) == (4, 22)
    assert units.file == "f.yaml" and units.origin == "spec"
    # a path that does not exist gives the nearest ancestor's place
    missing = locate(root, ("network", "layers", 0, "nothing"))
    assert (missing.line, missing.column) == (4, 7)


def test_booleans_are_only_true_and_false():
    root, _ = parse("a: yes\nb: on\nc: No\nd: true\ne: False\nf: off\n")
    assert to_plain(root) == {"a": "yes", "b": "on", "c": "No", "d": True, "e": False, "f": "off"}


def test_timestamps_and_version_like_strings_stay_strings():
    root, diagnostics = parse("date: 2001-12-14\nstamp: 2001-12-14t21:59:43.10-05:00\n"
                              "version: 1.2.3\n")
    assert not diagnostics.items
    assert to_plain(root) == {"date": "2001-12-14", "stamp": "2001-12-14t21:59:43.10-05:00",
                              "version": "1.2.3"}


def test_numbers_in_exponent_form_are_floats_as_in_yaml_1_2():
    root, _ = parse("a: 1e-3\nb: 1.5e3\nc: 2E+2\nd: 12\ne: 1.0\nf: .5\ng: -.inf\nh: 1_000\ni: e3\n")
    plain = to_plain(root)
    assert plain == {"a": 0.001, "b": 1500.0, "c": 200.0, "d": 12, "e": 1.0, "f": 0.5,
                     "g": float("-inf"), "h": 1000, "i": "e3"}
    assert isinstance(plain["d"], int) and isinstance(plain["a"], float)


def test_merge_keys_apply_and_written_keys_win():
    text = ("base: &base {type: linear, units: 10, activation: tanh}\n"
            "layer: {<<: *base, units: 32}\n")
    root, diagnostics = parse(text)
    assert not diagnostics.items
    assert to_plain(root)["layer"] == {"type": "linear", "units": 32, "activation": "tanh"}
    # the merged value keeps the place it was written (the anchor), the override its own
    assert locate(root, ("layer", "type")).line == 1 and locate(root, ("layer", "units")).line == 2


def test_merge_of_several_mappings_gives_the_first_precedence():
    text = "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc: {<<: [*a, *b]}\n"
    root, diagnostics = parse(text)
    assert not diagnostics.items
    assert to_plain(root)["c"] == {"x": 1, "y": 1, "z": 2}


def test_duplicate_keys_are_errors_even_beside_a_merge():
    root, diagnostics = parse("base: &b {u: 1}\nc: {<<: *b, u: 2, u: 3}\n")
    assert codes(diagnostics) == ["E102"]
    item = diagnostics.items[0]
    assert (item.span.line, item.span.column) == (2, 19) and "first at line 2" in item.message


def test_python_tags_are_refused_in_values_and_keys():
    root, diagnostics = parse("a: !!python/object/apply:os.system [ls]\n"
                              "? !!python/name:os.system ''\n: 1\n")
    assert codes(diagnostics) == ["E105", "E105"]
    assert "`!!python/object/apply:os.system`" in diagnostics.items[0].message
    assert to_plain(root) == {"a": None}


def test_non_string_keys_are_refused():
    _, diagnostics = parse("1: a\n[x]: b\nnull: c\n")
    assert codes(diagnostics) == ["E109", "E109", "E109"]
    assert "not a list" in diagnostics.items[1].message


def test_syntax_error_names_where_the_broken_construct_began():
    _, diagnostics = parse("a: {b: 1\nc: 2\n")
    (item,) = diagnostics.items
    assert item.code == "E101" and "starts at line 1, column 4" in item.message


def test_control_characters_are_a_syntax_error_not_a_crash():
    _, diagnostics = parse("a: 1\nb: \x07\n")
    (item,) = diagnostics.items
    assert item.code == "E101" and (item.span.line, item.span.column) == (2, 4)


def test_alias_bombs_stop_before_expanding():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for index in range(1, 9):
        alias = "*a" if index == 1 else f"*l{index - 1}"
        lines.append(f"l{index}: &l{index} [" + ",".join([alias] * 10) + "]")
    root, diagnostics = parse("\n".join(lines) + "\n")
    assert root is None and codes(diagnostics) == ["E106"]


def test_small_shared_aliases_are_fine():
    root, diagnostics = parse("a: &a [1, 2]\nb: *a\nc: *a\n")
    assert not diagnostics.items and to_plain(root)["c"] == [1, 2]


def test_empty_and_multi_document_and_non_mapping_files():
    assert codes(parse("# only a comment\n")[1]) == ["E104"]
    assert codes(parse("a: 1\n---\nb: 2\n")[1]) == ["E108"]
    diagnostics = DiagnosticList()
    assert parse_document("- 1\n- 2\n", "f.yaml", diagnostics) is None
    assert codes(diagnostics) == ["E103"]


def test_nodes_are_typed_scalars_sequences_and_mappings():
    root, _ = parse("a: [1, two, 3.0, null]\n")
    sequence = root.entries["a"]
    assert isinstance(sequence, SequenceNode)
    assert [type(item.value) for item in sequence.items if isinstance(item, ScalarNode)] == \
        [int, str, float, type(None)]


def test_explicit_plain_tags_that_do_not_fit_are_type_errors():
    root, diagnostics = parse("a: !!int sgd\n!!int b: 1\nc: !!bool maybe\nd: !!str 12\ne: !!float 1\n"
                              "f: !!int\n")
    assert [(item.code, item.span.line, item.span.column) for item in diagnostics.items] == [
        ("E303", 1, 4), ("E303", 2, 1), ("E303", 3, 4), ("E303", 6, 4)]
    assert diagnostics.items[0].message == "`sgd` is not a valid `!!int`"
    assert to_plain(root) == {"a": None, "c": None, "d": "12", "e": 1.0, "f": None}


def test_a_merge_key_without_a_mapping_is_a_type_error():
    root, diagnostics = parse("a: {<<: 3, b: 1}\n")
    assert [item.code for item in diagnostics.items] == ["E303"]
    assert to_plain(root) == {"a": {"b": 1}}


def _parse_with(loader: type, text: str) -> tuple[object, list[tuple]]:
    from nndsl.source import yaml_loader

    original = yaml_loader._SpecLoader
    yaml_loader._SpecLoader = loader
    try:
        diagnostics = DiagnosticList()
        root = parse_yaml(text, "f.yaml", "spec", diagnostics)
    finally:
        yaml_loader._SpecLoader = original
    return root, [(item.code, item.span) for item in diagnostics.items]


def test_libyaml_and_pyyaml_give_the_same_located_nodes():
    """libyaml parses when PyYAML has it (speed); both must give the same values and places."""
    from pathlib import Path

    import pytest

    from nndsl.source import yaml_loader

    if yaml_loader._SpecLoader is yaml_loader._PureSpecLoader:
        pytest.skip("PyYAML was built without libyaml")
    root = Path(__file__).resolve().parents[2]
    texts = [path.read_text(errors="replace") for folder in ("specs", "stdlib", "tests/errors/cases")
             for path in sorted((root / folder).rglob("*.yaml"))]
    texts += [
        "base: &b {units: 10, activation: tanh}\nlayer: {<<: *b, units: 20}\nlist: [*b, *b]\n",
        "text: |\n  two\n  lines\nfolded: >\n  one\n  line\nquoted: 'it''s'\nunicode: \"\\u00e9t\\u00e9\"\n",
        "a: 1\na: 2\n", "lr: 1e-3\nflag: yes\nwhen: 2024-01-01\n", "- [1, 2\n", "a: b: c\n", "",
    ]
    assert len(texts) > 80
    for text in texts:
        assert _parse_with(yaml_loader._SpecLoader, text) == _parse_with(yaml_loader._PureSpecLoader, text), text
