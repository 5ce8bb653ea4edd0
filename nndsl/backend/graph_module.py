"""Backend stage: Graph -> `GraphModule`, an nn.Module that runs the IR's layers in order.

In: the IR graph (layers, edges, shapes) and the plan's tempering and memory decisions. Out: a
module mapping a batch `inputs` (and, for sequences, `lengths`) to the output layer's tensor and
the output's lengths. Layer modules live in `self.layers` under their IR names with dots replaced
(torch forbids dots in module names). Under a memory plan, recurrent layers run their recompute
policies and each planned checkpoint segment of a feed-forward chain runs under
`torch.utils.checkpoint` (non-reentrant, random state replayed so dropout masks match).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint, noop_context_fn

from nndsl.backend.tempering import ShuntedLinear, attenuate_error
from nndsl.ir import INPUT, Graph
from nndsl.layers import LAYERS
from nndsl.plan import MemoryPlan, TemperingPlan
from nndsl.state_names import module_key


class GraphModule(nn.Module):
    """Runs the network's layers in topological order, carrying sequence lengths alongside."""

    def __init__(self, graph: Graph, tempering: TemperingPlan | None = None,
                 layers: tuple[str, ...] | None = None, source: str = INPUT,
                 output: str | None = None,
                 tensor_only: bool = False, memory: MemoryPlan | None = None):
        """Args:
            graph: the IR graph.
            tempering: the plan's tempering decisions (attenuation, shunting), if any.
            layers: run only these layers (a part of the graph: an ensemble's trunk or heads).
            source: the layer whose output the forward input stands for (default: the network
                input).
            output: the layer whose output is returned (default: the graph's output).
            tensor_only: return only the output tensor (for vectorised ensemble members).
            memory: the plan's recompute policies; their recurrent layers run under them.
        """
        super().__init__()
        chosen = set(layers) if layers is not None else set(graph.order)
        self.order = [name for name in graph.order if name in chosen]
        self.inputs = {name: list(graph.node(name).inputs) for name in self.order}
        self.source = source
        self.output = output or graph.output
        self.tensor_only = tensor_only
        self.layers = nn.ModuleDict()
        for node in (graph.node(name) for name in self.order):
            record = LAYERS.get(node.type)
            assert record is not None
            self.layers[module_key(node.name)] = record.build(node.params, list(node.input_shapes))
        # Tempering acts on the backward pass only: attenuation scales the error entering each
        # hidden layer's output; shunting swaps a dense layer's linear map for one whose weights
        # learn from the centred error and whose bias from the mean error.
        self.attenuation = {rate.layer: rate.attenuation
                            for rate in (tempering.layers if tempering else ())
                            if rate.attenuation is not None and rate.attenuation != 1.0}
        for rate in tempering.layers if tempering else ():
            if rate.shunted:
                _shunt(self.layers[module_key(rate.layer)])
        for planned in memory.recurrent if memory else ():
            if planned.layer in chosen:
                assert planned.schedule is not None  # the budget planner always makes one
                self.layers[module_key(planned.layer)].use_recompute(planned.schedule)
        # Checkpoint segments by their first layer. A segment only partly in this module, or
        # whose inner layer is the module's output, runs plainly (its inner values are needed).
        self.segments: dict[str, tuple[str, ...]] = {
            segment[0]: segment for segment in (memory.checkpoint_segments if memory else ())
            if chosen.issuperset(segment) and self.output not in segment[:-1]}
        self.steps: list[tuple[str, ...]] = []  # single layers, and segments as one step
        for name in self.order:
            if (self.steps and self.steps[-1][0] in self.segments
                    and name in self.segments[self.steps[-1][0]]):
                continue
            self.steps.append(self.segments.get(name, (name,)))
        # `checkpoint(..., context_fn=...)`: measuring tools count what recomputation saves.
        self.checkpoint_context = noop_context_fn

    def layer(self, name: str) -> nn.Module:
        return self.layers[module_key(name)]

    def layer_parameters(self, name: str) -> list[tuple[str, nn.Parameter]]:
        """A layer's parameters with their names inside the layer (weight, 0.bias, ...)."""
        return list(self.layer(name).named_parameters())

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None] | torch.Tensor:
        values: dict[str, torch.Tensor] = {self.source: inputs}
        value_lengths: dict[str, torch.Tensor | None] = {self.source: lengths}
        # Checkpoints pay off only when a backward pass follows (not in evaluation or no_grad).
        checkpointing = self.training and torch.is_grad_enabled()
        for step in self.steps:
            name = step[0]
            module = self.layers[module_key(name)]
            sources = self.inputs[name]
            if name in self.segments:
                arguments = (step, values[sources[0]], value_lengths[sources[0]])
                if checkpointing:
                    values[step[-1]] = checkpoint(self._run_segment, *arguments,
                                                  use_reentrant=False, preserve_rng_state=True,
                                                  context_fn=self._segment_context(step))
                else:
                    values[step[-1]] = self._run_segment(*arguments)
                segment_lengths = value_lengths[sources[0]]
                for inner in step:
                    segment_lengths = _map_lengths(self.layers[module_key(inner)], segment_lengths)
                value_lengths[step[-1]] = segment_lengths
                continue
            arguments = [values[source] for source in sources]
            source_lengths = value_lengths[sources[0]]
            if getattr(module, "takes_input_lengths", False):  # one length tensor per input
                input_lengths = [value_lengths[source] for source in sources]
                values[name] = module(*arguments, lengths=input_lengths)
            elif getattr(module, "takes_lengths", False):
                values[name] = module(*arguments, lengths=source_lengths)
            else:
                values[name] = module(*arguments)
            if name in self.attenuation:
                values[name] = attenuate_error(values[name], self.attenuation[name])
            value_lengths[name] = _map_lengths(module, source_lengths)
        if self.tensor_only:
            return values[self.output]
        return values[self.output], value_lengths[self.output]

    def _run_segment(self, segment: tuple[str, ...], value: torch.Tensor,
                     lengths: torch.Tensor | None) -> torch.Tensor:
        """A segment's layers in order (run again during backward by the checkpoint): a run of
        layers, or whole blocks whose layers read one another (a residual connection) and the
        segment's input; layers that mask padding get the lengths of their input."""
        entry = self.inputs[segment[0]][0]
        values, value_lengths = {entry: value}, {entry: lengths}
        for name in segment:
            module = self.layers[module_key(name)]
            sources = self.inputs[name]
            arguments = [values[source] for source in sources]
            if getattr(module, "takes_input_lengths", False):
                output = module(*arguments, lengths=[value_lengths[source] for source in sources])
            elif getattr(module, "takes_lengths", False):
                output = module(*arguments, lengths=value_lengths[sources[0]])
            else:
                output = module(*arguments)
            if name in self.attenuation:
                output = attenuate_error(output, self.attenuation[name])
            values[name] = output
            value_lengths[name] = _map_lengths(module, value_lengths[sources[0]])
        return values[segment[-1]]

    def _segment_context(self, segment: tuple[str, ...]):
        """`checkpoint`'s context_fn for a segment: the measuring tools' contexts, and during
        recomputation batch norm's running statistics frozen (they were updated once already)."""
        norms = [module for name in segment for module in self.layers[module_key(name)].modules()
                 if isinstance(module, nn.modules.batchnorm._BatchNorm)
                 and module.track_running_stats]

        def contexts():
            forward, recompute = self.checkpoint_context()
            return forward, _frozen_statistics(norms, recompute)

        return contexts

    def reset_layers(self, names: list[str] | tuple[str, ...], generator_seed: int) -> None:
        """Re-initialise the named layers' parameters (top-down's "re-initialise b"), seeded."""
        state = torch.random.get_rng_state()
        torch.manual_seed(generator_seed)
        try:
            for name in names:
                top = self.layer(name)
                # A layer that knows its own initialisation (a spec's `init:`) resets as a whole;
                # otherwise each part resets itself with torch's default initialisation.
                parts = [top] if hasattr(top, "reset_parameters") else list(top.modules())
                for module in parts:
                    reset = getattr(module, "reset_parameters", None)
                    if callable(reset):
                        reset()
        finally:
            torch.random.set_rng_state(state)


@contextlib.contextmanager
def _frozen_statistics(norms: list[nn.Module], inner: Any):
    """Batch norm layers recomputed without touching their running statistics: momentum 0 keeps
    the running mean and variance as they are (the batch statistics still normalise, so outputs
    and gradients equal the first pass's), and the batch counter is put back afterwards. The
    states are read on entry, that is when recomputation starts."""
    saved = [(module.momentum, None if module.num_batches_tracked is None
              else module.num_batches_tracked.clone()) for module in norms]
    for module in norms:
        module.momentum = 0.0
    try:
        with inner:
            yield
    finally:
        for module, (momentum, tracked) in zip(norms, saved):
            module.momentum = momentum
            if tracked is not None:
                module.num_batches_tracked.copy_(tracked)


def _map_lengths(module: nn.Module, lengths: torch.Tensor | None) -> torch.Tensor | None:
    """Sequence lengths after a layer (windows over time shorten them)."""
    if lengths is not None and hasattr(module, "output_lengths"):
        return module.output_lengths(lengths)
    return lengths


def _shunt(dense: nn.Module) -> None:
    """Replace the `nn.Linear` inside a dense layer by a `ShuntedLinear` with the same values."""
    for index, child in enumerate(dense.children()):
        if type(child) is nn.Linear and child.bias is not None:
            shunted = ShuntedLinear(child.in_features, child.out_features)
            shunted.load_state_dict(child.state_dict())
            dense[index] = shunted  # type: ignore[index]
            return
