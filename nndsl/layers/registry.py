"""The layer-type registry: one record per layer type, shared by every stage.

A record holds the type's parameter model (pydantic, used by the spec stage), its shape rule and
parameter count (used by the ir stage) and its builder (used by the backend, which alone imports
torch: builders import inside the function). Keeping the three together means the configuration
and the built module cannot drift apart.

Users add types with the `@layer_type("name")` decorator in their own module, made known through
the `nndsl.layers` entry-point group; a spec never contains executable code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from nndsl.records import Record
from nndsl.registry import Registry

Dim = int | str  # a size, or a symbolic length such as "T" or "T/4"
Shape = tuple[Dim, ...]  # one example's shape, without the batch axis


class LayerParams(BaseModel):
    """Base of every layer type's parameter model: strict, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class LossTerm(Record):
    """A term a layer type adds to the training loss (see `LayerType.loss_terms`).

    Attributes:
        name: the term's name, as `loss.terms` weighs it (`kl`, `independence`).
        doc: what it is, in a few words, for `nndsl show`.
        per_example: divided by the training-set size N, as a bound over the whole data set is
            when the data term is a mean per example (variational dropout's KL).
    """

    name: str
    doc: str
    per_example: bool = False


@dataclass(frozen=True)
class ShapeProblem(Exception):
    """Raised by a shape rule: the input shapes do not suit the layer (an ir-stage diagnostic)."""

    code: str
    message: str
    hint: str | None = None


class LayerType:
    """Base class of layer-type records; subclasses override what differs.

    Attributes: `name` (set by the registry on the one instance it makes), and the class
    attributes `doc` (one line for `nndsl ls`), `shape_rule` (the input-to-output shapes in
    words, for docs/reference.md), `Params`, `inputs` (min, max number of inputs; None =
    unbounded), `recurrent` (executes over time and accepts memory budgets), `plant` (a fixed
    physical system between the network's output and the loss: never trained, marked in `show`),
    `loss_terms` (the terms it adds to the training loss, `LossTerm`s: the training module adds
    each, times its weight from the spec's `loss.terms`, to the data term; the built module
    returns their values for its latest forward pass from a `loss_terms()` method, a dict by
    term name).
    """

    name: str = ""  # the registered name
    doc: ClassVar[str] = ""
    shape_rule: ClassVar[str] = ""  # e.g. "[T, F] → [T, units]", for the language reference
    Params: ClassVar[type[LayerParams]] = LayerParams
    inputs: ClassVar[tuple[int, int | None]] = (1, 1)
    recurrent: ClassVar[bool] = False
    plant: ClassVar[bool] = False
    loss_terms: ClassVar[tuple[LossTerm, ...]] = ()

    def declared_loss_terms(self, params: Any) -> tuple[LossTerm, ...]:
        """The loss terms a layer with these parameters adds (those of `loss_terms` that its
        parameters switch on; all of them unless a type says otherwise)."""
        return self.loss_terms

    def output_shape(self, params: Any, input_shapes: list[Shape]) -> Shape:
        """The output shape; raise `ShapeProblem` when the inputs do not suit the layer."""
        return input_shapes[0]

    def parameter_count(self, params: Any, input_shapes: list[Shape]) -> int:
        """Trainable parameters of the built module."""
        return 0

    def activation(self, params: Any) -> str:
        """The nonlinearity applied at the layer's output ("linear" when none); used by
        tempering."""
        return str(getattr(params, "activation", "linear"))

    def saved_estimate(self, params: Any, input_shapes: list[tuple[int, ...]],
                       output_shape: tuple[int, ...], batch: int) -> tuple[bool, bool, int] | None:
        """What autograd keeps for the backward pass of one batch (float32), for memory planning:
        (saves its input, saves its output, bytes of other saved tensors), shapes evaluated at the
        planned length. None leaves it to the planner's rules by type
        (`nndsl.plan.memory.chains`)."""
        return None

    def forward_cost(self, params: Any, input_shapes: list[tuple[int, ...]],
                     output_shape: tuple[int, ...], batch: int) -> float | None:
        """Forward FLOP-equivalents for one batch (see `nndsl.plan.memory.chains`); None: the
        planner's rules."""
        return None

    def build(self, params: Any, input_shapes: list[Shape]) -> Any:
        """The torch module (backend stage only)."""
        raise NotImplementedError(f"layer type `{self.name}` has no builder")


# Built-in layer types by name and the module that registers each: a lookup imports only that
# module, so validating a spec pays for the types it uses (`nndsl validate` start-up time); a
# test checks that the table names every built-in type's module.
BUILTIN_LAYERS = {
    **dict.fromkeys(("activation", "batch_norm", "embedding", "layer_norm", "linear", "lwta",
                     "whitened_linear"), "nndsl.layers.dense"),
    **dict.fromkeys(("blstm", "gru", "lstm", "rnn"), "nndsl.layers.recurrent"),
    **dict.fromkeys(("dropout", "gaussian_dropout", "variational_dropout"),
                    "nndsl.layers.regularizers"),
    **dict.fromkeys(("add", "concat", "slice"), "nndsl.layers.structural"),
    **dict.fromkeys(("add_channel", "conv1d", "conv2d", "flatten", "maxpool", "to_sequence"),
                    "nndsl.layers.convolution"),
    "conv_transpose": "nndsl.layers.convolution_transposed",
    **dict.fromkeys(("avgpool", "global_pool", "rms_norm"), "nndsl.layers.pooling"),
    **dict.fromkeys(("cross_attention", "positional_encoding", "self_attention"),
                    "nndsl.layers.attention"),
    **dict.fromkeys(("glu", "scale", "transpose"), "nndsl.layers.elementwise"),
    **dict.fromkeys(("hmm_likelihood", "pairwise_relative", "predictor_bank"),
                    "nndsl.layers.sequence_models"),
    "ica": "nndsl.layers.independent_components",
    **dict.fromkeys(("cubic_speaker", "fir_channel"), "nndsl.layers.plants"),
    "log_mel": "nndsl.layers.spectral",
}
BUILTIN_MODULES = tuple(dict.fromkeys(BUILTIN_LAYERS.values()))


class LayerRegistry(Registry[LayerType]):
    """Layer types by name, with the lookup rules of every nndsl registry (`nndsl.registry`):
    a built-in type registers when its module is imported (on the first lookup of one of its
    names, or of all of them when every name is asked for), plugins through the `nndsl.layers`
    entry-point group, loaded on the first unknown name.
    """

    def __init__(self, entry_point_group: str | None = "nndsl.layers") -> None:
        super().__init__("layer type",
                         protocol=("Params", "output_shape", "parameter_count", "build"),
                         builtin_modules=BUILTIN_MODULES, builtin_names=BUILTIN_LAYERS,
                         entry_point_group=entry_point_group)


LAYERS = LayerRegistry()


def layer_type(name: str) -> Callable[[type[LayerType]], type[LayerType]]:
    """Register a layer type in the default registry.

    Example:
        >>> from nndsl.layers import LayerType, layer_type
        >>> @layer_type("identity_example")
        ... class IdentityExample(LayerType):
        ...     doc = "passes its input through"
    """
    return LAYERS.decorator(name)
