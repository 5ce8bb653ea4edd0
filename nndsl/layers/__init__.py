"""Layer types: the registry and the built-in types.

Importing this package registers the built-ins; plugins register through the `nndsl.layers`
entry-point group (loaded lazily on the first unknown name).
"""

from __future__ import annotations

from nndsl.layers import convolution, dense, recurrent, regularizers, structural  # noqa: F401  (registers)
# Attention, pooling and the other layers of current architectures.
from nndsl.layers import (attention, convolution_transposed, elementwise,  # noqa: F401  (registers)
                          pooling)
from nndsl.layers import sequence_models  # noqa: F401  (registers)
from nndsl.layers import independent_components, plants, spectral  # noqa: F401  (registers)
from nndsl.layers.registry import (LAYERS, LayerParams, LayerRegistry, LayerType, LossTerm,
                                   Shape, ShapeProblem, layer_type)
from nndsl.layers.shapes import format_shape

__all__ = ["LAYERS", "LayerParams", "LayerRegistry", "LayerType", "LossTerm", "Shape",
           "ShapeProblem", "format_shape", "layer_type"]
