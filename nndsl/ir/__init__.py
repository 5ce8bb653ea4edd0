"""IR stage: Spec -> Graph (expanded blocks, shapes, parameter counts; `Graph.digraph` is its
networkx view).

Entry point: `lower(spec, input_shape, context)`; `check_output` then compares the
output with the loss and the data (E505).
"""

from __future__ import annotations

from nndsl.ir.graph import INPUT, Graph, GraphNode, Unit
from nndsl.ir.lower import lower
from nndsl.ir.output import check_output

__all__ = ["INPUT", "Graph", "GraphNode", "Unit", "check_output", "lower"]
