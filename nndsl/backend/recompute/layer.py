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

from typing import Literal

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from nndsl.backend.recompute.direction import DirectionRun, RecomputeStatistics, State
from nndsl.plan.memory.recompute import RecomputeSchedule, plan_recompute

CellType = Literal["lstm", "gru", "rnn"]
_CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}


class _RecomputeFunction(torch.autograd.Function):
    """Autograd node of one direction: forward keeps only what the schedule stores."""

    @staticmethod
    def forward(ctx, run: DirectionRun, state_size: int, inputs: torch.Tensor,
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
        run = DirectionRun(self, 0, self.schedule, probe_inputs, valid, seed, statistics)
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
            run = DirectionRun(self, direction, schedule, inputs, valid, seed, self.statistics)
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

    def _forward_without_graph(self, run: DirectionRun, state: State,
                               parameters: list[torch.Tensor | None]):
        """Inference: one plain pass, nothing stored."""
        outputs = run.inputs.new_zeros(run.inputs.shape[0], run.length, self.hidden_size)
        with torch.no_grad():
            for step in range(1, run.length + 1):
                time = run.time_of(step)
                output, state = run.step(step, run.inputs[:, time], state, parameters)
                outputs[:, time] = output
        return outputs, state
