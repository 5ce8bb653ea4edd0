"""The data-source registry: lookup, did-you-mean, decorator, entry points, import cost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nndsl.data.registry import (
    DATA_SOURCES,
    DataSignature,
    DataSourceRegistry,
    UnknownDataSourceError,
)

BUILT_INS = {"digits", "family_relations", "synthetic_speech", "markov_text", "npz", "csv", "kaldi"}


class TinyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    size: int = Field(3, description="examples")


class TinySource:
    Params = TinyParams
    doc = "a tiny source for tests"

    def signature(self, params: TinyParams, base_directory: Path) -> DataSignature:
        return DataSignature(input_shape=(2,), input_kind="dense", target_kind="regression")

    def load(self, params, base_directory, seed):  # pragma: no cover - never loaded here
        raise NotImplementedError


def test_built_in_sources_are_registered_with_a_doc_line() -> None:
    assert BUILT_INS <= set(DATA_SOURCES.names())
    for name in BUILT_INS:
        source = DATA_SOURCES.get(name)
        assert source.name == name
        assert source.doc and "\n" not in source.doc


def test_every_built_in_params_model_is_strict_frozen_and_described() -> None:
    for name in BUILT_INS:
        params_model = DATA_SOURCES.get(name).Params
        assert params_model.model_config["extra"] == "forbid", name
        assert params_model.model_config["frozen"] is True, name
        for field_name, field in params_model.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"


def test_unknown_name_is_a_key_error_with_close_matches() -> None:
    with pytest.raises(KeyError) as caught:
        DATA_SOURCES.get("synthetic_speach")
    error = caught.value
    assert isinstance(error, UnknownDataSourceError)
    assert error.matches[0] == "synthetic_speech"
    assert "did you mean 'synthetic_speech'" in str(error)


def test_unknown_name_without_matches_lists_known_sources() -> None:
    with pytest.raises(UnknownDataSourceError) as caught:
        DATA_SOURCES.get("zzzzzz")
    assert caught.value.matches == ()
    assert "digits" in str(caught.value)


def test_unknown_params_key_is_rejected_by_the_params_model() -> None:
    with pytest.raises(ValidationError) as caught:
        DATA_SOURCES.get("digits").Params.model_validate({"layot": "image"})
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_decorator_registers_and_refuses_duplicates() -> None:
    registry = DataSourceRegistry(builtin_modules=(), entry_point_group=None)
    registry.data_source("tiny")(TinySource)
    assert registry.names() == ("tiny",)
    assert "tiny" in registry
    assert isinstance(registry.get("tiny"), TinySource)
    with pytest.raises(ValueError, match="already registered"):
        registry.data_source("tiny")(TinySource)


def test_a_record_missing_part_of_the_protocol_is_refused() -> None:
    registry = DataSourceRegistry(builtin_modules=(), entry_point_group=None)

    class NoLoad:
        Params = TinyParams
        doc = "incomplete"

        def signature(self, params, base_directory):  # pragma: no cover
            raise NotImplementedError

    with pytest.raises(ValueError, match="lacks load"):
        registry.register("incomplete", NoLoad)


def _install_plugin(folder: Path, entry_points: str, module_text: str) -> None:
    """A minimal installed distribution (dist-info on sys.path) declaring `entry_points`."""
    (folder / "tiny_plugin.py").write_text(textwrap.dedent(module_text))
    dist_info = folder / "tiny_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


PLUGIN_MODULE = """
    from pydantic import BaseModel, ConfigDict
    from nndsl.data.registry import DataSignature

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

    class PluginSource:
        Params = Params
        doc = "from a plugin"

        def signature(self, params, base_directory):
            return DataSignature(input_shape=(1,), input_kind="dense", target_kind="regression")

        def load(self, params, base_directory, seed):
            raise NotImplementedError
"""


def test_entry_points_are_discovered_lazily(tmp_path: Path, monkeypatch) -> None:
    _install_plugin(
        tmp_path,
        "[tiny.group]\nplugin_source = tiny_plugin:PluginSource\nbroken = tiny_plugin:Missing\n",
        PLUGIN_MODULE,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = DataSourceRegistry(builtin_modules=(), entry_point_group="tiny.group")
    assert registry.get("plugin_source").doc == "from a plugin"
    # The broken entry point is reported, not raised, so other sources keep working.
    assert any(failure.startswith("broken") for failure in registry.plugin_failures)
    with pytest.raises(UnknownDataSourceError) as caught:
        registry.get("plugin_sorce")
    assert caught.value.matches == ("plugin_source",)
    assert "failed to load" in str(caught.value)
    monkeypatch.delitem(sys.modules, "tiny_plugin", raising=False)


def test_registry_lookup_imports_neither_numpy_nor_torch() -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from nndsl.data.registry import DATA_SOURCES\n"
        "for name in ('digits', 'family_relations', 'synthetic_speech', 'npz', 'csv', 'kaldi'):\n"
        "    source = DATA_SOURCES.get(name)\n"
        "for name in ('digits', 'family_relations', 'synthetic_speech'):\n"
        "    source = DATA_SOURCES.get(name)\n"
        "    source.signature(source.Params(), Path('.'))\n"
        "print(sorted(m for m in ('numpy', 'torch', 'lightning', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
