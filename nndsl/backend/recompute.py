"""Backend stage: recurrent layers back-propagated under a planned recompute schedule.

In: a ``RecomputeSchedule`` (plan stage), a cell type (LSTM, GRU, tanh RNN) and its sizes.
Out: ``RecomputedRecurrent``, a module whose forward over ``[batch, time, features]`` returns
outputs ``[batch, time, hidden * directions]`` and the final state, and whose backward replays
the schedule (Gruslys et al. 2016): it reruns forward steps from stored hidden states, keeps a
step's autograd graph only where the schedule says so (an internal state) and back-propagates
one step at a time, accumulating parameter gradients. It counts the forward steps it runs and
the bytes it holds for backward, so both can be compared with the plan.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from nndsl.plan.recompute import RecomputeAction, RecomputeSchedule, plan_recompute

CellType = Literal["lstm", "gru", "rnn"]
_CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}
_CELL_FUNCTIONS = {"lstm": torch.lstm_cell, "gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}
State = tuple[torch.Tensor, ...]


@dataclass
class RecomputeStatistics:
    """What the executor did since the last reset: forward core executions and peak bytes."""

    forward_steps: int = 0
    stored_bytes: int = 0
    peak_stored_bytes: int = 0
    _references: dict[int, list[int]] = field(default_factory=dict)
    _items: dict[object, tuple[int, ...]] = field(default_factory=dict)
    _excluded: set[int] = field(default_factory=set)

    def hold(self, key: object, tensors: list[torch.Tensor]) -> None:
        """Counts the storages of ``tensors`` (each storage once, however many hold it)."""
        pointers = []
        for tensor in tensors:
            storage = tensor.untyped_storage()
            pointer = storage.data_ptr()
            if pointer in self._excluded or pointer in pointers:
                continue
            pointers.append(pointer)
            entry = self._references.setdefault(pointer, [0, storage.nbytes()])
            if entry[0] == 0:
                self.stored_bytes += entry[1]
            entry[0] += 1
        self._items[key] = tuple(pointers)
        self.peak_stored_bytes = max(self.peak_stored_bytes, self.stored_bytes)

    def exclude(self, tensors) -> None:
        """Never counts these storages (parameters, inputs and masks derived from them)."""
        self._excluded.update(tensor.untyped_storage().data_ptr() for tensor in tensors)

    def release_owner(self, owner: int) -> None:
        """Releases what a run still holds (its backward never ran, e.g. no loss was taken)."""
        for key in [key for key in self._items if key[0] == owner]:  # type: ignore[index]
            self.release(key)

    def release(self, key: object) -> None:
        for pointer in self._items.pop(key, ()):
            entry = self._references[pointer]
            entry[0] -= 1
            if entry[0] == 0:
                self.stored_bytes -= entry[1]
                del self._references[pointer]


@dataclass
class _KeptCore:
    """One step's autograd graph (an internal state) and the leaves it starts from."""

    state_leaves: State
    input_leaf: torch.Tensor | None
    output: torch.Tensor
    new_state: State
    detached_state: State


class _DirectionRun:
    """Executes a schedule's actions for one direction of one call."""

    def __init__(self, layer: RecomputedRecurrent, direction: int, schedule: RecomputeSchedule,
                 inputs: torch.Tensor, valid: tuple[torch.Tensor, torch.Tensor] | None,
                 seed: int | None,
                 statistics: RecomputeStatistics) -> None:
        self.layer, self.direction, self.schedule = layer, direction, schedule
        self.inputs, self.valid, self.seed, self.statistics = inputs, valid, seed, statistics
        self.length = inputs.shape[1]
        self.hidden: dict[int, State] = {}
        self.kept: dict[int, _KeptCore] = {}
        self.register: tuple[int, State] | None = None
        self.generator = torch.Generator(device=inputs.device) if seed is not None else None
        # Statistics are keyed by id, not by the run, so they never keep its tensors alive.
        self.key = id(self)
        weakref.finalize(self, statistics.release_owner, self.key)

    # -- one step -----------------------------------------------------------------------------
    def time_of(self, step: int) -> int:
        return step - 1 if self.direction == 0 else self.length - step

    def step(self, step: int, x: torch.Tensor, state: State,
             parameters: list[torch.Tensor | None]) -> tuple[torch.Tensor, State]:
        """The core: cell, padding mask (padded steps keep the state) and output dropout."""
        self.statistics.forward_steps += 1
        cell_type = self.layer.cell_type
        function = _CELL_FUNCTIONS[cell_type]
        if cell_type == "lstm":
            new_state = tuple(function(x, state, *parameters))
        else:
            new_state = (function(x, state[0], *parameters),)
        time = self.time_of(step)
        if self.valid is not None:
            new_state = tuple(torch.where(self.valid[0][time], new, old)
                              for new, old in zip(new_state, state))
        output = new_state[0]
        if self.seed is not None:
            output = output * self.layer.output_dropout_mask(
                self.seed, self.direction, step, output, self.generator)
        # Padded outputs are zeroed outside the core (RecomputedRecurrent.forward): a product
        # here would keep one more hidden-sized tensor in every internal state.
        return output, new_state

    # -- actions ------------------------------------------------------------------------------
    def state_at(self, position: int) -> State:
        if self.register is not None and self.register[0] == position:
            return self.register[1]
        if position in self.hidden:
            return self.hidden[position]
        if position in self.kept:
            return self.kept[position].detached_state
        return self.initial_state  # position 0; the plan never asks for anything else

    def run(self, action: RecomputeAction, outputs: torch.Tensor | None) -> None:
        """Executes one action; ``outputs`` is filled during the first pass only."""
        if action.kind == "forward":
            state = self.state_at(action.start)
            with torch.no_grad():
                for step in range(action.start + 1, action.stop + 1):
                    output, state = self.step(step, self.inputs[:, self.time_of(step)], state,
                                              self.plain_parameters)
                    if outputs is not None:
                        outputs[:, self.time_of(step)] = output
            self.register = (action.stop, state)
        elif action.kind == "keep":
            self.keep(action.stop, outputs)
        elif action.kind == "backward":
            self.backward_step(action.stop)
        elif action.kind == "save_hidden":
            self.hidden[action.start] = self.state_at(action.start)
            self.statistics.hold((self.key, "hidden", action.start),
                                 list(self.hidden[action.start]))
        else:
            self.statistics.release((self.key, "hidden", action.start))
            del self.hidden[action.start]

    def keep(self, step: int, outputs: torch.Tensor | None) -> None:
        state_leaves = tuple(part.detach().requires_grad_() for part in self.state_at(step - 1))
        x = self.inputs[:, self.time_of(step)]
        input_leaf = x.detach().requires_grad_() if self.inputs_need_grad else None
        saved: list[torch.Tensor] = []

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            saved.append(tensor)  # only to count its bytes; autograd keeps it as usual
            return tensor

        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            output, new_state = self.step(step, x if input_leaf is None else input_leaf,
                                          state_leaves, self.leaf_parameters)
        detached = tuple(part.detach() for part in new_state)
        self.kept[step] = _KeptCore(state_leaves, input_leaf, output, new_state, detached)
        self.statistics.hold((self.key, "kept", step), saved + [output, *new_state, *state_leaves])
        self.register = (step, detached)
        if outputs is not None:
            outputs[:, self.time_of(step)] = output.detach()

    def backward_step(self, step: int) -> None:
        core = self.kept.pop(step)
        time = self.time_of(step)
        gradient_output = self.gradient_outputs[:, time]
        tensors, gradients = list(core.new_state), list(self.gradient)
        if core.output is core.new_state[0]:
            gradients[0] = gradients[0] + gradient_output  # the output is the hidden state
        else:
            tensors.append(core.output)
            gradients.append(gradient_output)
        targets = list(core.state_leaves) + self.gradient_parameters
        if core.input_leaf is not None:
            targets.append(core.input_leaf)
        with torch.enable_grad():
            torch.autograd.backward(tensors, gradients, inputs=targets)
        self.gradient = tuple(leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                              for leaf in core.state_leaves)
        if core.input_leaf is not None and core.input_leaf.grad is not None:
            self.input_gradient[:, time] = core.input_leaf.grad
        self.statistics.release((self.key, "kept", step))

    # -- the two passes -----------------------------------------------------------------------
    def prepare(self, initial_state: State, parameters: list[torch.Tensor | None]) -> None:
        """Sets the start state and the parameter leaves the kept graphs are built on."""
        self.initial_state = initial_state
        self.plain_parameters = [None if p is None else p.detach() for p in parameters]
        # Detached leaves share storage with the parameters; their .grad accumulates the sum
        # of every step's contribution, as one backward pass through the unrolled graph would.
        self.leaf_parameters = [None if p is None else
                                (p.detach().requires_grad_() if p.requires_grad else p.detach())
                                for p in parameters]
        self.gradient_parameters = [p for p in self.leaf_parameters
                                    if p is not None and p.requires_grad]
        self.inputs_need_grad = self.inputs.requires_grad
        self.inputs = self.inputs.detach()

    def first_pass(self, initial_state: State,
                   parameters: list[torch.Tensor | None]) -> tuple[torch.Tensor, State]:
        self.prepare(initial_state, parameters)
        self.statistics.hold((self.key, "initial"), list(initial_state))
        batch = self.inputs.shape[0]
        outputs = self.inputs.new_zeros(batch, self.length, self.layer.hidden_size)
        for action in self.schedule.actions[:self.schedule.first_pass_length]:
            self.run(action, outputs)
        final_state = tuple(part.clone() for part in self.register[1])
        return outputs, final_state

    def backward_pass(self, gradient_outputs: torch.Tensor | None,
                      gradient_final: tuple[torch.Tensor | None, ...]):
        zeros = self.initial_state[0].new_zeros
        shape = (self.inputs.shape[0], self.length, self.layer.hidden_size)
        self.gradient_outputs = gradient_outputs if gradient_outputs is not None else zeros(shape)
        self.gradient = tuple(torch.zeros_like(part) if gradient is None else gradient
                              for part, gradient in zip(self.initial_state, gradient_final))
        self.input_gradient = torch.zeros_like(self.inputs) if self.inputs_need_grad else None
        for action in self.schedule.actions[self.schedule.first_pass_length:]:
            self.run(action, None)
        self.statistics.release((self.key, "initial"))
        parameter_gradients = [
            None if leaf is None or not leaf.requires_grad else
            (leaf.grad if leaf.grad is not None else torch.zeros_like(leaf))
            for leaf in self.leaf_parameters]
        self.register = None
        return self.input_gradient, self.gradient, parameter_gradients


class _RecomputeFunction(torch.autograd.Function):
    """Autograd node of one direction: forward keeps only what the schedule stores."""

    @staticmethod
    def forward(ctx, run: _DirectionRun, state_size: int, inputs: torch.Tensor,
                *state_and_parameters: torch.Tensor):
        initial_state = tuple(state_and_parameters[:state_size])
        parameters = list(state_and_parameters[state_size:])
        ctx.run, ctx.state_size, ctx.parameter_count = run, state_size, len(parameters)
        outputs, final_state = run.first_pass(initial_state, parameters)
        return (outputs, *final_state)

    @staticmethod
    @once_differentiable
    def backward(ctx, gradient_outputs, *gradient_final):
        run, ctx.run = ctx.run, None  # free the stored states once backward has used them
        input_gradient, state_gradient, parameter_gradients = run.backward_pass(
            gradient_outputs, gradient_final)
        return (None, None, input_gradient, *state_gradient, *parameter_gradients)


class RecomputedRecurrent(nn.Module):
    """A recurrent layer (LSTM, GRU or tanh RNN cell) trained under a recompute schedule.

    Attributes:
        statistics: forward steps run and peak bytes held for backward since the last
            ``reset_statistics()``.
        last_dropout_seed: the seed of the last training call's output-dropout masks.
    """

    def __init__(self, cell_type: CellType, input_size: int, hidden_size: int,
                 schedule: RecomputeSchedule, bidirectional: bool = False,
                 dropout: float = 0.0, bias: bool = True) -> None:
        """Builds one ``nn.LSTMCell``/``nn.GRUCell``/``nn.RNNCell`` per direction.

        Args:
            cell_type: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
            input_size: features per step.
            hidden_size: units per direction.
            schedule: the plan for ``schedule.sequence_length`` steps; other lengths are
                re-planned with the same policy and memory.
            bidirectional: add a second cell reading the sequence backwards.
            dropout: probability of zeroing an output unit (training only; the state fed back
                is not dropped).
            bias: whether the cells have biases.
        """
        super().__init__()
        self.cell_type, self.hidden_size, self.schedule = cell_type, hidden_size, schedule
        self.dropout = dropout
        self.cells = nn.ModuleList(_CELLS[cell_type](input_size, hidden_size, bias=bias)
                                   for _ in range(2 if bidirectional else 1))
        self.statistics = RecomputeStatistics()
        self.last_dropout_seed: int | None = None

    def reset_statistics(self) -> None:
        self.statistics = RecomputeStatistics()

    def measure_state_bytes(self, batch_size: int, with_lengths: bool = False) -> tuple[int, int]:
        """Bytes of one hidden state and of one internal state at this batch size.

        The internal state is what this executor keeps for one step whose input state is not
        held elsewhere: the tensors autograd saves, the step's output and its input and output
        states (Definition 3 of the paper). Output dropout is included in training mode, the
        padding mask with ``with_lengths`` (it keeps the unmasked new state as well).

        Returns:
            ``(hidden_state_bytes, internal_state_bytes)``, for ``units_for_budget``.
        """
        cell = self.cells[0]
        probe_inputs = cell.weight_ih.new_zeros(batch_size, 1, cell.input_size)
        statistics = RecomputeStatistics()
        statistics.exclude([*self.parameters(), probe_inputs])
        seed = 0 if self.training and self.dropout > 0 else None
        state_size = 2 if self.cell_type == "lstm" else 1
        state = tuple(probe_inputs.new_zeros(batch_size, self.hidden_size)
                      for _ in range(state_size))
        valid = None
        if with_lengths:
            mask = torch.ones(1, batch_size, 1, dtype=torch.bool, device=probe_inputs.device)
            valid = (mask, mask.to(probe_inputs.dtype))
            statistics.exclude(valid)
        run = _DirectionRun(self, 0, self.schedule, probe_inputs, valid, seed, statistics)
        run.prepare(state, [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh])
        run.keep(1, None)
        hidden_bytes = sum(part.untyped_storage().nbytes() for part in state)
        return hidden_bytes, statistics.stored_bytes

    def schedule_for(self, length: int) -> RecomputeSchedule:
        """The schedule for ``length`` steps (the planner caches re-plans)."""
        planned = self.schedule
        if length == planned.sequence_length:
            return planned
        return plan_recompute(length, planned.memory_units, planned.policy, planned.alpha,
                              shared_input_units=planned.shared_input_units)

    def output_dropout_mask(self, seed: int, direction: int, step: int, like: torch.Tensor,
                            generator: torch.Generator | None = None) -> torch.Tensor:
        """The scaled dropout mask of one step, a pure function of (seed, direction, step).

        Recomputed steps therefore drop exactly the units the first pass dropped.
        """
        generator = generator or torch.Generator(device=like.device)
        generator.manual_seed((seed * 1_000_003 + direction * 1_000_033 + step) % (1 << 62))
        keep = 1.0 - self.dropout
        return torch.empty_like(like).bernoulli_(keep, generator=generator).div_(keep)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None,
                initial_state: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None):
        """Runs the layer.

        Args:
            inputs: ``[batch, time, features]``.
            lengths: optional ``[batch]`` valid steps per example; padded steps leave the state
                unchanged and output zeros (the backward direction starts at each example's
                last valid step).
            initial_state: ``h0`` ``[directions, batch, hidden]``, or ``(h0, c0)`` for an LSTM;
                zeros when omitted.

        Returns:
            ``(outputs [batch, time, hidden * directions], h_n)`` or, for an LSTM,
            ``(outputs, (h_n, c_n))``, states shaped ``[directions, batch, hidden]``.
        """
        batch, length = inputs.shape[0], inputs.shape[1]
        directions = len(self.cells)
        state_size = 2 if self.cell_type == "lstm" else 1
        if initial_state is None:
            zeros = inputs.new_zeros(directions, batch, self.hidden_size)
            initial = (zeros,) * state_size
        else:
            initial = initial_state if isinstance(initial_state, tuple) else (initial_state,)
        valid = None
        if lengths is not None:
            steps = torch.arange(length, device=inputs.device)
            mask = (steps[:, None] < lengths.to(inputs.device)[None, :])[..., None]
            valid = (mask, mask.to(inputs.dtype))  # [time, batch, 1]: for where() and outputs
        seed = None
        if self.training and self.dropout > 0:
            seed = int(torch.randint(0, 1 << 62, (1,)).item())  # follows torch.manual_seed
        self.last_dropout_seed = seed
        schedule = self.schedule_for(length)
        self.statistics.exclude([*self.parameters(), inputs])
        if valid is not None:  # masks are derived from the inputs, kept like them
            self.statistics.exclude(valid)
        needs_graph = torch.is_grad_enabled() and (
            inputs.requires_grad or any(p.requires_grad for p in self.parameters())
            or any(part.requires_grad for part in initial))
        outputs, finals = [], []
        for direction, cell in enumerate(self.cells):
            run = _DirectionRun(self, direction, schedule, inputs, valid, seed, self.statistics)
            parameters = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
            state = tuple(part[direction] for part in initial)
            if needs_graph:
                present = [p for p in parameters if p is not None]
                result = _RecomputeFunction.apply(run, state_size, inputs, *state, *present)
                outputs.append(result[0])
                finals.append(result[1:])
            else:
                output, final = self._forward_without_graph(run, state, parameters)
                outputs.append(output)
                finals.append(final)
        output = torch.cat(outputs, dim=-1) if directions > 1 else outputs[0]
        if valid is not None:  # autograd keeps only the [batch, time, 1] mask for this product
            output = output * valid[1].transpose(0, 1)
        stacked = tuple(torch.stack([final[index] for final in finals])
                        for index in range(state_size))
        return output, (stacked if self.cell_type == "lstm" else stacked[0])

    def _forward_without_graph(self, run: _DirectionRun, state: State,
                               parameters: list[torch.Tensor | None]):
        """Inference: one plain pass, nothing stored."""
        outputs = run.inputs.new_zeros(run.inputs.shape[0], run.length, self.hidden_size)
        with torch.no_grad():
            for step in range(1, run.length + 1):
                time = run.time_of(step)
                output, state = run.step(step, run.inputs[:, time], state, parameters)
                outputs[:, time] = output
        return outputs, state
