"""Plan stage, output type: `Plan`, every decision the backend will carry out.

Nothing in the backend decides a rate, a trainable set or a checkpoint policy: it reads them
here. Plans are plain frozen dataclasses that dump to JSON for the run directory, golden tests
and `nndsl show`.
"""

from __future__ import annotations

from typing import Any, Literal

from nndsl.plan.layer_sets import LayerSet
from nndsl.records import Record, fields
from nndsl.spec.training import LossSpec, OptimizerSpec


class CutPlan(Record):
    """A cut: the extractor (b, below) and classifier (t, above) layer sets, in graph order."""

    name: str
    extractor: LayerSet
    classifier: LayerSet
    extractor_parameters: int
    classifier_parameters: int


class StopPlan(Record):
    """When a training run inside a phase stops."""

    monitor: str
    mode: Literal["min", "max"]
    patience: int | None
    max_epochs: int
    threshold: float | None = None


class TopDownSearch(Record):
    """Algorithm 1 of the top-down paper: the cuts to try, top first, and how to accept."""

    cuts: tuple[str, ...]
    search: Literal["greedy", "full"]
    monitor: str
    mode: Literal["min", "max"]
    classifier_from: tuple[str, ...] = ()


class RunPlan(Record):
    """One training run as the run stage carries it out: re-initialise `reinitialised` (torch
    seeded with `seed`), then train `trainable` while `frozen` stays bit for bit as it was.

    A phase has one run, a `top_down` phase one per cut of its search (top first: the search
    decides at run time how many it gets to), a `retrain_classifier` phase without `cut:` one per
    cut an earlier search may accept last (the run stage takes the one of the cut it accepted).
    """

    label: str  # the run's name in the run directory: checkpoints/<label>, logs/<label>
    cut: str | None
    trainable: LayerSet
    frozen: LayerSet
    reinitialised: LayerSet
    seed: int


class Acceptance(Record):
    """A trial's rule: its run is kept only when its `monitor` score is strictly better (in
    `mode`'s direction) than the score before the phase or of the attempt kept last; otherwise
    the network returns to its state before the run."""

    monitor: str
    mode: Literal["min", "max"]


class LayerSlot(Record):
    """A layer's weights copied to (`save`) or from (`restore`) a named slot of the run."""

    layer: str
    slot: str


class PhasePlan(Record):
    """One phase: exact trainable, frozen and re-initialised layer sets and their parameter counts.

    For a `top_down` phase the sets are those of its first attempt; `search` lists the cuts the
    attempts move through (each attempt freezes the classifier of its cut and re-initialises
    and trains the extractor). `runs` are what the run stage executes; `accept` makes the
    phase's runs trials (top_down, retrain_classifier).
    """

    name: str
    kind: str
    trainable: LayerSet
    frozen: LayerSet
    reinitialised: LayerSet
    trainable_parameters: int
    frozen_parameters: int
    reinitialised_parameters: int
    stop: StopPlan
    optimizer: OptimizerSpec
    keep_best: bool
    cut: str | None = None
    search: TopDownSearch | None = None
    parameter_groups: tuple[ParameterGroup, ...] = ()
    runs: tuple[RunPlan, ...] = ()
    accept: Acceptance | None = None
    classes: tuple[int, ...] | None = None  # the examples' classes the phase uses (None: all)
    relabel: bool = False  # selected classes renumbered 0, 1, ... in `classes` order
    restore: tuple[LayerSlot, ...] = ()  # copied into layers before the phase's first run
    save: tuple[LayerSlot, ...] = ()  # copied out of layers after the phase
    init: InitPlan | None = None  # weights loaded at the phase's start
    stage: UnfreezeStage | None = None  # the phase is a stage of a gradual_unfreeze phase


class LayerInit(Record):
    """One layer's tensors taken from a checkpoint: entry `layers.<source>.<tensor>` there goes
    to `layers.<layer>.<tensor>` here (a `.` in a name written `__`, as torch keys modules)."""

    layer: str
    source: str
    tensors: tuple[str, ...]
    parameters: int


class InitPlan(Record):
    """`init_from:` decided: the file read, its kind, and which tensors load into which layer."""

    source: str  # as written in the spec
    file: str  # the resolved file read at run time
    format: Literal["run", "lightning", "state_dict"]
    layers: tuple[LayerInit, ...]
    parameters: int
    checked: bool = True  # False: the file did not exist at validation; training checks again
    # "nndsl": keys `layers.<source>.<tensor>`; "foreign": `<source>.<tensor>` (a module path and
    # a tensor's last name, paired with this layer's tensor of that last name when loading).
    layout: Literal["nndsl", "foreign"] = "nndsl"
    strip_prefix: str = ""  # before every checkpoint key (keys without it are not read)


class UnfreezeStage(Record):
    """A stage of the `gradual_unfreeze` phase `phase`: `unfrozen` are the units (or the cut) it
    adds to training, `lr_multiplier` scales the phase optimiser's rate."""

    phase: str
    number: int
    stages: int
    unfrozen: tuple[str, ...]
    lr_multiplier: float


class ParameterGroup(Record):
    """An optimiser parameter group: layers sharing one learning rate and weight decay."""

    name: str
    layers: tuple[str, ...]
    lr: float
    weight_decay: float
    rate_multiplier: float
    parameters: int
    parameters_of: Literal["all", "weights", "biases"] = "all"


class LayerRate(Record):
    """Tempering's decisions for one layer (effective multiple of η as in the paper's Figure 1)."""

    layer: str
    rate_multiplier: float
    attenuation: float | None
    effective_multiplier: float | None
    shunted: bool


class TemperingPlan(Record):
    rule: str
    global_lr: float
    global_lr_bound: float | None
    layers: tuple[LayerRate, ...]
    error_attenuation: bool
    shunting: bool


RecomputePolicy = Literal["optimal", "hidden", "internal", "sqrt", "none"]
ActionKind = Literal["forward", "keep", "backward", "save_hidden", "free_hidden"]


class RecomputeAction(Record):
    """One executor instruction; positions count hidden states (0 = initial, step k ends at k).

    ``forward``: run steps start+1..stop without autograd, from the state held at ``start``.
    ``keep``: run step ``stop`` (= start+1) keeping its autograd graph (a core is now held).
    ``backward``: back-propagate through the kept step ``stop`` and release it.
    ``save_hidden`` / ``free_hidden``: store / release the state at ``start`` (= stop).
    """

    kind: ActionKind
    start: int
    stop: int


class RecomputeSchedule(Record):
    """A planned recompute policy for one direction of one recurrent layer.

    Attributes:
        policy: the policy asked for.
        sequence_length: steps planned for.
        memory_units: units the policy may use, besides one workspace core.
        alpha: units of one internal state (ceil(internal bytes / hidden bytes)).
        shared_input_units: units of an internal state whose input state is already held
            (beta of eq. 10); equal to alpha for the simpler eq. 7.
        predicted_forward_steps: forward core executions, first pass included (the paper's C).
        predicted_peak_units: most units held at once, workspace and initial state included.
        most_hidden_states: most stored hidden states at once (initial state excluded).
        most_kept_cores: most kept cores (internal states) at once.
        actions: the instructions, first pass first.
        first_pass_length: ``actions[:first_pass_length]`` run in the layer's forward pass.
    """

    policy: RecomputePolicy
    sequence_length: int
    memory_units: int
    alpha: int
    shared_input_units: int
    predicted_forward_steps: int
    predicted_peak_units: int
    most_hidden_states: int
    most_kept_cores: int
    actions: tuple[RecomputeAction, ...]
    first_pass_length: int


class RecurrentMemoryPlan(Record):
    """The recompute policy of one recurrent layer under the memory budget; `schedule` is what
    the backend executes for a sequence of the planned length (each direction runs it)."""

    layer: str
    cell: str
    directions: int
    policy: str
    sequence_length: int
    memory_units: int
    alpha: int
    hidden_state_bytes: int
    internal_state_bytes: int
    predicted_forward_steps: int
    plain_forward_steps: int
    predicted_peak_bytes: int
    plain_peak_bytes: int
    schedule: RecomputeSchedule | None = None


class SegmentPlan(Record):
    """A run of a feed-forward chain: plain, or checkpointed (only its input kept, recomputed)."""

    layers: tuple[str, ...]
    checkpointed: bool
    stored_bytes: int  # kept from forward to backward: the input if checkpointed, else all it saves
    recompute_bytes: int  # held while it is recomputed during backward (0 when plain)
    # FLOP-equivalents (elementwise work weighted by its cost, nndsl.plan.memory.chains)
    recompute_flops: float


class ChainMemoryPlan(Record):
    """The checkpoint segments of one feed-forward chain under its share of the budget."""

    layers: tuple[str, ...]
    policy: str  # the segmentation used: optimal, sqrt or none
    budget_bytes: int
    segments: tuple[SegmentPlan, ...]
    predicted_peak_bytes: int
    plain_peak_bytes: int
    smallest_peak_bytes: int
    forward_flops: float
    recompute_flops: float
    # a training step's time vs plain backprop: 1 + recompute / (forward + backward)
    predicted_time_ratio: float


class MemoryPlan(Record):
    """The budget's decisions: recompute policies of recurrent layers, checkpoint segments of
    chains.

    `checkpoint_segments` lists the layers of each checkpointed segment (what the backend wraps
    in `torch.utils.checkpoint`); `chains` has the details per chain.
    """

    budget_bytes: int
    policy: str
    recurrent: tuple[RecurrentMemoryPlan, ...]
    checkpoint_segments: tuple[tuple[str, ...], ...] = ()
    note: str = ""
    chains: tuple[ChainMemoryPlan, ...] = ()


class EnsemblePlan(Record):
    members: int
    method: str
    k: int
    share: str | None
    shared_layers: tuple[str, ...]
    member_layers: tuple[str, ...]
    combine: str
    seeds: tuple[int, ...]
    vectorised: bool
    fallback_reason: str | None
    memory_multiplier: float


class LossTermPlan(Record):
    """One loss term a layer adds: the training module adds `weight` × its value (÷ N, the
    training-set size, when `per_example`) to the data term."""

    layer: str
    term: str
    weight: float
    per_example: bool
    doc: str


class Plan(Record):
    """Everything the backend needs, decided ahead of training."""

    name: str
    seed: int
    cuts: tuple[CutPlan, ...]
    phases: tuple[PhasePlan, ...]
    parameter_groups: tuple[ParameterGroup, ...]
    loss: LossSpec
    loss_terms: tuple[LossTermPlan, ...]
    tempering: TemperingPlan | None = None
    memory: MemoryPlan | None = None
    ensemble: EnsemblePlan | None = None
    notes: tuple[str, ...] = ()
    init: InitPlan | None = None  # weights loaded before the first phase

    def cut(self, name: str) -> CutPlan:
        return next(cut for cut in self.cuts if cut.name == name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (pydantic parts dumped as they would be written in a spec)."""

        def convert(value: Any) -> Any:
            if isinstance(value, LayerSet):  # names, long stretches as ranges (layer_sets.py)
                return value.to_json()
            if isinstance(value, Record):
                return {item.name: convert(getattr(value, item.name)) for item in fields(value)}
            if hasattr(value, "model_dump"):
                return value.model_dump(mode="json")
            if isinstance(value, dict):
                return {key: convert(item) for key, item in value.items()}
            if isinstance(value, (list, tuple)):
                return [convert(item) for item in value]
            return value

        return convert(self)
