"""Command-line layer: `nndsl ls`, the layer types, data sources and stdlib fragments."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nndsl.cli.render import literal_row
from nndsl.data.registry import DATA_SOURCES
from nndsl.layers import LAYERS
from nndsl.resolve.library import fragment_summary, locate_fragment, stdlib_names


def render_listing(console: Console) -> None:
    layers = Table(title="layer types", title_justify="left", show_edge=False)
    layers.add_column("type", style="bold")
    layers.add_column("parameters")
    layers.add_column("what it does")
    for layer in LAYERS:
        literal_row(layers, layer.name, ", ".join(layer.Params.model_fields), layer.doc)
    console.print(layers)
    console.print()
    sources = Table(title="data sources", title_justify="left", show_edge=False)
    sources.add_column("source", style="bold")
    sources.add_column("parameters")
    sources.add_column("what it is")
    for name in DATA_SOURCES.names():
        source = DATA_SOURCES.get(name)
        literal_row(sources, name, ", ".join(source.Params.model_fields), source.doc)
    console.print(sources)
    console.print()
    # The title is rich markup: `[std:...]` would be read as a style tag and vanish.
    fragments = Table(title=escape("stdlib fragments (use: [std:...])"), title_justify="left",
                      show_edge=False)
    fragments.add_column("fragment", style="bold")
    fragments.add_column("what it is")
    for name in stdlib_names():
        location = locate_fragment(name, ".")
        text = location.resource.read_text(encoding="utf-8") if location else ""
        literal_row(fragments, name, fragment_summary(text))
    console.print(fragments)
