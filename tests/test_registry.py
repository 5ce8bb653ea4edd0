"""Layer types and data sources are looked up by one registry type, with the same rules: an
unknown name is a KeyError with close matches, a name registers once, a class lacking part of
the protocol is refused, and a broken plugin is reported rather than raised."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nndsl.data.registry import DATA_SOURCES, UnknownDataSourceError
from nndsl.layers import LAYERS, LayerRegistry, LayerType
from nndsl.registry import UnknownName


@pytest.mark.parametrize(("registry", "typo", "meant"), [(LAYERS, "lienar", "linear"),
                                                         (DATA_SOURCES, "digts", "digits")])
def test_an_unknown_name_raises_with_close_matches_in_both_registries(registry, typo, meant):
    assert meant in registry and typo not in registry
    assert registry.get(meant).name == meant
    with pytest.raises(KeyError) as caught:
        registry.get(typo)
    assert isinstance(caught.value, UnknownName)
    assert caught.value.matches[0] == meant
    assert f"did you mean {meant!r}" in str(caught.value)


def test_the_data_source_error_keeps_its_own_type():
    with pytest.raises(UnknownDataSourceError,
                       match="unknown data source 'zzzzzz'; known sources: "):
        DATA_SOURCES.get("zzzzzz")


class Identity(LayerType):
    doc = "passes its input through"


def test_a_layer_type_registers_once_and_must_follow_the_protocol():
    registry = LayerRegistry(entry_point_group=None)
    registry.decorator("identity")(Identity)
    assert registry.get("identity").name == "identity"
    with pytest.raises(ValueError, match="already registered"):
        registry.decorator("identity")(Identity)

    class NotALayer:
        doc = "no shape rule"

    with pytest.raises(ValueError, match="lacks Params, output_shape, parameter_count, build"):
        registry.register("not_a_layer", NotALayer)


def test_a_broken_layer_plugin_is_reported_not_raised(tmp_path: Path, monkeypatch):
    (tmp_path / "tiny_layers.py").write_text(textwrap.dedent("""
        from nndsl.layers import LayerType

        class Echo(LayerType):
            doc = "from a plugin"
    """))
    dist_info = tmp_path / "tiny_layers-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-layers\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[tiny.layers]\necho = tiny_layers:Echo\nbroken = tiny_layers:Missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = LayerRegistry(entry_point_group="tiny.layers")
    assert registry.get("echo").doc == "from a plugin"
    assert any(failure.startswith("broken") for failure in registry.plugin_failures)
    with pytest.raises(UnknownName) as caught:
        registry.get("ecko")
    assert caught.value.matches == ("echo",) and "failed to load" in str(caught.value)
    monkeypatch.delitem(sys.modules, "tiny_layers", raising=False)


def test_the_built_in_layer_table_names_each_types_module():
    """A lookup imports only the module `BUILTIN_LAYERS` names, so the table must name every
    built-in type, each with the module that registers it."""
    from nndsl.layers.registry import BUILTIN_LAYERS

    LAYERS.names()  # imports every built-in module
    built_in = {record.name: type(record).__module__ for record in LAYERS
                if type(record).__module__.startswith("nndsl.layers.")}
    assert built_in == BUILTIN_LAYERS


def test_looking_up_a_layer_type_imports_its_module_alone():
    probe = ("import sys\nfrom nndsl.layers import LAYERS\nLAYERS.get('lstm')\n"
             "print(sorted(name for name in sys.modules if name.startswith('nndsl.layers.')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120)
    loaded = set(ast.literal_eval(result.stdout.strip()))
    # lstm's module and what it imports itself (the dense types' shared parameters), no other.
    assert loaded == {"nndsl.layers.recurrent", "nndsl.layers.dense", "nndsl.layers.registry",
                      "nndsl.layers.shapes"}, result.stderr
