"""IR stage: Spec -> Graph (networkx DiGraph: expanded blocks, shapes, parameter counts).

Entry point: `lower(spec, input_shape, locate, diagnostics)`.
"""

from __future__ import annotations

from nndsl.ir.graph import INPUT, Graph, GraphNode, Unit
from nndsl.ir.lower import lower

__all__ = ["INPUT", "Graph", "GraphNode", "Unit", "lower"]
