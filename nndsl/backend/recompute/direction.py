"""Backend stage: one direction of a recurrent layer run by its recompute schedule.

In: the layer (its cells and parameters), a ``RecomputeSchedule``, the inputs and, for dropout,
a seed. Out: ``DirectionRun`` performs the first forward pass (storing only what the schedule
says) and the backward pass (re-running forward from stored hidden states, keeping one step's
autograd graph at a time, accumulating gradients); ``RecomputeStatistics`` counts the forward
steps and the bytes held, so both can be compared with the plan. ``nndsl.backend.recompute.layer``
wraps a run in an autograd function and a module.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from nndsl.plan.memory.recompute import RecomputeAction, RecomputeSchedule

if TYPE_CHECKING:
    from nndsl.backend.recompute.layer import RecomputedRecurrent

CELL_FUNCTIONS = {"lstm": torch.lstm_cell, "gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}
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
class KeptCore:
    """One step's autograd graph (an internal state) and where it starts: leaves of its own, or
    (``state_leaves`` None) the previous kept core's graph, chained on (see ``chained_steps``)."""

    state_leaves: State | None
    input_leaf: torch.Tensor | None
    output: torch.Tensor
    new_state: State
    detached_state: State


def chained_steps(actions: tuple[RecomputeAction, ...]) -> frozenset[int]:
    """The steps k whose backward action is directly followed by step k - 1's.

    Step k's kept graph may then be built on step k - 1's (when that core is kept at the time)
    instead of on leaves of its own: both are back-propagated by one ``autograd.backward`` call
    over the run of steps, with exactly the gradients and memory of step-by-step calls, but
    without a Python round trip and an engine start per step.
    """
    return frozenset(
        action.stop for action, following in zip(actions, actions[1:])
        if action.kind == following.kind == "backward" and following.stop == action.stop - 1)


class DirectionRun:
    """Executes a schedule's actions for one direction of one call."""

    def __init__(self, layer: RecomputedRecurrent, direction: int, schedule: RecomputeSchedule,
                 inputs: torch.Tensor, valid: tuple[torch.Tensor, torch.Tensor] | None,
                 seed: int | None,
                 statistics: RecomputeStatistics) -> None:
        self.layer, self.direction, self.schedule = layer, direction, schedule
        self.inputs, self.valid, self.seed, self.statistics = inputs, valid, seed, statistics
        self.length = inputs.shape[1]
        self.hidden: dict[int, State] = {}
        self.kept: dict[int, KeptCore] = {}
        self.register: tuple[int, State] | None = None
        self.chained = _chained_steps_of(schedule)
        self.done: set[int] = set()  # steps back-propagated with a later step's run
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
        function = CELL_FUNCTIONS[cell_type]
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
            if action.stop in self.done:
                self.done.discard(action.stop)
            else:
                self.backward_run(action.stop)
        elif action.kind == "save_hidden":
            self.hidden[action.start] = self.state_at(action.start)
            self.statistics.hold((self.key, "hidden", action.start),
                                 list(self.hidden[action.start]))
        else:
            self.statistics.release((self.key, "hidden", action.start))
            del self.hidden[action.start]

    def keep(self, step: int, outputs: torch.Tensor | None) -> None:
        previous = self.kept.get(step - 1)
        state_leaves: State | None = None
        if step in self.chained and previous is not None:
            # The graph goes on from the previous kept core's (its new state holds the values
            # any other copy of the state at step - 1 holds: recomputation is deterministic).
            state = previous.new_state
        else:
            state_leaves = tuple(part.detach().requires_grad_()
                                 for part in self.state_at(step - 1))
            state = state_leaves
        x = self.inputs[:, self.time_of(step)]
        input_leaf = x.detach().requires_grad_() if self.inputs_need_grad else None
        saved: list[torch.Tensor] = []

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            saved.append(tensor)  # only to count its bytes; autograd keeps it as usual
            return tensor

        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            output, new_state = self.step(step, x if input_leaf is None else input_leaf,
                                          state, self.leaf_parameters)
        detached = tuple(part.detach() for part in new_state)
        self.kept[step] = KeptCore(state_leaves, input_leaf, output, new_state, detached)
        # A chained core's input state is the previous core's output: the same storages (counted
        # once), exactly as the detached leaves of an unchained core share them.
        self.statistics.hold((self.key, "kept", step), saved + [output, *new_state, *state])
        self.register = (step, detached)
        if outputs is not None:
            outputs[:, self.time_of(step)] = output.detach()

    def backward_run(self, step: int) -> None:
        """Back-propagates step ``step`` and the kept cores it is chained down to, in one call.

        Step ``step``'s new state receives the gradient carried from the step after it; every
        step's output receives its gradient from the outputs; the run ends at the core whose
        state leaves collect the gradient carried on to the step before.
        """
        run = [self.kept.pop(step)]
        while run[-1].state_leaves is None:  # chained: its backward action comes right after
            step -= 1
            run.append(self.kept.pop(step))
            self.done.add(step)
        first_step = step  # the run covers first_step .. first_step + len(run) - 1
        tensors, gradients = list(run[0].new_state), list(self.gradient)
        targets = list(run[-1].state_leaves) + self.gradient_parameters
        for offset, core in enumerate(reversed(run)):
            time = self.time_of(first_step + offset)
            gradient_output = self.gradient_outputs[:, time]
            if core is run[0] and core.output is core.new_state[0]:
                gradients[0] = gradients[0] + gradient_output  # the output is the hidden state
            else:
                tensors.append(core.output)
                gradients.append(gradient_output)
            if core.input_leaf is not None:
                targets.append(core.input_leaf)
        with torch.enable_grad():
            torch.autograd.backward(tensors, gradients, inputs=targets)
        self.gradient = tuple(leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                              for leaf in run[-1].state_leaves)
        for offset, core in enumerate(reversed(run)):
            if core.input_leaf is not None and core.input_leaf.grad is not None:
                self.input_gradient[:, self.time_of(first_step + offset)] = core.input_leaf.grad
            self.statistics.release((self.key, "kept", first_step + offset))

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


_CHAINED_CACHE: dict[int, tuple[RecomputeSchedule, frozenset[int]]] = {}


def _chained_steps_of(schedule: RecomputeSchedule) -> frozenset[int]:
    """``chained_steps`` of a schedule, worked out once per schedule object (a training run calls
    the layer with the same schedule at every batch; keyed by identity, the schedule held with
    its result so the identity cannot be reused)."""
    cached = _CHAINED_CACHE.get(id(schedule))
    if cached is None or cached[0] is not schedule:
        if len(_CHAINED_CACHE) > 64:
            _CHAINED_CACHE.clear()
        cached = _CHAINED_CACHE[id(schedule)] = (schedule, chained_steps(schedule.actions))
    return cached[1]
