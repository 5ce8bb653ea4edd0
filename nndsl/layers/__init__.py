"""Layer types: the registry and the built-in types.

The built-in types register on first lookup, each name importing only the module that defines it
(`BUILTIN_LAYERS` in `nndsl.layers.registry`); plugins register through the `nndsl.layers`
entry-point group (loaded lazily on the first unknown name).
"""

from __future__ import annotations

from nndsl.layers.registry import (LAYERS, LayerParams, LayerRegistry, LayerType, LossTerm,
                                   Shape, ShapeProblem, layer_type)
from nndsl.layers.shapes import format_shape

__all__ = ["LAYERS", "LayerParams", "LayerRegistry", "LayerType", "LossTerm", "Shape",
           "ShapeProblem", "format_shape", "layer_type"]
