"""Plan stage: learning-rate tempering rules computed on a neutral description of a network.

In: `TemperedNode` records (one per layer of identical units: activation, fan-in, neighbours,
output role), as the compiler reads them off its graph. Out: a frozen `TemperingTable` of per-node
rate multipliers η_j/η, error attenuations α_i, output error scales 1/φ_j, shunting flags and
effective multipliers; plus the simpler rules `layerwise_decay` and `width_scaled`. Pure Python.

The equations are Schraudolph & Sejnowski's "Tempering backpropagation networks":
η_j = η / (s(f_j)·√ε_j), s(f) = max|f'|, ε_j a bound on the squared input power, derived from the
anterior nodes as Σ ρ(f_i)² with ρ(f) = max f² and the bias counting 1 (eq. 8, 9); α_i =
1 / (s(f_i)·√|P_i|) on backpropagated error (eq. 11–14), except in the layer feeding a one-hot
output; η ≤ η* = 1/√|T| for batch learning over |T| patterns (eq. 18).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from nndsl.records import Record


class TemperingError(ValueError):
    """A network description the tempering rules cannot handle (the message says why)."""


class ActivationProfile(Record):
    """s(f) = max |f'| (`slope_maximum`) and ρ(f) = max f² (`output_power_maximum`, None if f is
    unbounded): the two activation bounds tempering needs."""

    slope_maximum: float
    output_power_maximum: float | None


ACTIVATION_PROFILES: Mapping[str, ActivationProfile] = MappingProxyType({
    "tanh": ActivationProfile(1.0, 1.0), "hardtanh": ActivationProfile(1.0, 1.0),
    "logistic": ActivationProfile(0.25, 1.0), "sigmoid": ActivationProfile(0.25, 1.0),
    "softsign": ActivationProfile(1.0, 1.0), "relu": ActivationProfile(1.0, None),
    "linear": ActivationProfile(1.0, None), "identity": ActivationProfile(1.0, None),
})
# Output losses with a known φ_j = max|∂E/∂y_j| / |t_j − x_j| (eq. 10).
OUTPUT_LOSSES = ("cross_entropy", "quadratic")


class TemperedNode(Record):
    """One layer of identical units, described for the tempering rules.

    Attributes:
        name: Unique node name.
        activation: Key of `ACTIVATION_PROFILES`.
        fan_in: Inputs per unit including the bias.
        input_power_bound: ε_j; None derives it from the anterior nodes, which then must all be
            nodes of the network (external inputs need an explicit bound, e.g. 4 for one-hot).
        anterior: Names of the nodes (or external inputs) feeding this one.
        posterior: Names of the nodes this one feeds.
        is_output: Whether the loss is taken on this node.
        one_hot_output: For an output with a local (one-hot) target code: the layer feeding it
            is not attenuated.
        units: Number of units in the layer; fan-out and ε count units.
        has_bias: Whether the node has a bias (counted in `fan_in`).
        output_loss: For an output: "cross_entropy" (φ = 1) or "quadratic" (φ = s(f)).
    """

    name: str
    activation: str
    fan_in: int
    input_power_bound: float | None = None
    anterior: tuple[str, ...] = ()
    posterior: tuple[str, ...] = ()
    is_output: bool = False
    one_hot_output: bool = False
    units: int = 1
    has_bias: bool = True
    output_loss: str = "cross_entropy"


class TemperedRate(Record):
    """The tempering of one node's incoming weights and of the error passing through it.

    Attributes:
        rate_multiplier: η_j/η for the node's incoming weights and bias; `input_power_bound` is
            the ε_j it used, `fan_out` the |P_i| (in units) behind `attenuation`.
        attenuation: α_i multiplying the error backpropagated into the node; None for outputs.
        output_error_scale: 1/φ_j multiplying an output's error; None for hidden nodes.
        shunted: Whether the node's bias takes the mean error and its weights the centred error.
        effective_multiplier: η_j/η times α of this layer and all layers above (and 1/φ of the
            output); None when paths to the outputs disagree (not a strictly layered network).
    """

    name: str
    rate_multiplier: float
    input_power_bound: float
    fan_out: int
    attenuation: float | None
    output_error_scale: float | None
    shunted: bool
    effective_multiplier: float | None


class TemperingTable(Record):
    """Per-node tempering, in the order the nodes were given, and the batch-rate bound η*."""

    rates: tuple[TemperedRate, ...]
    global_rate_bound: float | None

    def __getitem__(self, name: str) -> TemperedRate:
        for rate in self.rates:
            if rate.name == name:
                return rate
        raise KeyError(name)


def activation_profile(activation: str) -> ActivationProfile:
    """Looks up s(f) and ρ(f), raising a `TemperingError` that lists the known activations."""
    if activation not in ACTIVATION_PROFILES:
        raise TemperingError(f"tempering has no slope/range bounds for activation {activation!r};"
                             f" known activations: {', '.join(sorted(ACTIVATION_PROFILES))}")
    return ACTIVATION_PROFILES[activation]


def global_rate_bound(batch_size: int) -> float:
    """Returns η* = 1/√|T|, the largest global rate for batch updates over |T| patterns (eq. 18)."""
    if batch_size < 1:
        raise TemperingError(f"the global-rate bound needs a batch size >= 1, got {batch_size}")
    return 1.0 / math.sqrt(batch_size)


def _input_power_bound(node: TemperedNode, by_name: Mapping[str, TemperedNode]) -> float:
    if node.input_power_bound is not None:
        if node.input_power_bound <= 0:
            raise TemperingError(f"node {node.name!r}: input_power_bound must be positive")
        return node.input_power_bound
    anterior_nodes = [by_name.get(name) for name in node.anterior]
    bounds = [None if anterior is None else activation_profile(anterior.activation)
              .output_power_maximum for anterior in anterior_nodes]
    if None in bounds:
        name = node.anterior[bounds.index(None)]
        raise TemperingError(f"node {node.name!r}: cannot derive ε from input {name!r} (an external"
                             " input or an unbounded activation); give its input_power_bound")
    anterior_units = sum(anterior.units for anterior in anterior_nodes)
    if node.fan_in != anterior_units + node.has_bias:
        raise TemperingError(f"node {node.name!r}: fan_in {node.fan_in} does not match its "
                             f"{anterior_units} anterior units" + " + 1 bias" * node.has_bias)
    power = sum(anterior.units * bound**2 for anterior, bound in zip(anterior_nodes, bounds))
    return power + node.has_bias  # the bias input is a constant 1, so its ρ is 1


def _check_structure(nodes: Sequence[TemperedNode]) -> dict[str, TemperedNode]:
    by_name = {node.name: node for node in nodes}
    if len(by_name) != len(nodes):
        raise TemperingError("tempering needs unique node names")
    for node in nodes:
        if node.fan_in < 1 or node.units < 1:
            raise TemperingError(f"node {node.name!r}: fan_in and units must be positive")
        if node.is_output and node.output_loss not in OUTPUT_LOSSES:
            raise TemperingError(f"output {node.name!r}: no error scale φ for loss "
                                 f"{node.output_loss!r}; known: {', '.join(OUTPUT_LOSSES)}")
        if not node.is_output and not node.posterior:
            raise TemperingError(f"node {node.name!r} feeds no node and is not an output")
        for name in node.posterior:
            if name not in by_name or node.name not in by_name[name].anterior:
                raise TemperingError(f"node {node.name!r} feeds {name!r}, which is not a node "
                                     f"listing {node.name!r} as anterior")
    return by_name


def _attenuation(node: TemperedNode, by_name: Mapping[str, TemperedNode], enabled: bool) -> float:
    if not enabled or any(by_name[name].is_output and by_name[name].one_hot_output
                          for name in node.posterior):
        # The paper does not attenuate the layer feeding a local (one-hot) output code.
        return 1.0
    fan_out = sum(by_name[name].units for name in node.posterior)
    return 1.0 / (activation_profile(node.activation).slope_maximum * math.sqrt(fan_out))


def _error_scales(by_name: Mapping[str, TemperedNode], attenuations: Mapping[str, float | None]
                  ) -> dict[str, float | None]:
    """Product of the error scales from each node up to the outputs; None where paths disagree."""
    scales: dict[str, float | None] = {}

    def scale_of(name: str, visiting: frozenset[str]) -> float | None:
        if name in visiting:
            raise TemperingError(f"tempering needs an acyclic network; {name!r} is on a cycle")
        node = by_name[name]
        if name not in scales and node.is_output:
            slope = activation_profile(node.activation).slope_maximum
            scales[name] = 1.0 if node.output_loss == "cross_entropy" else 1.0 / slope
        elif name not in scales:
            above = {scale_of(posterior, visiting | {name}) for posterior in node.posterior}
            first = next(iter(above))
            agree = None not in above and all(math.isclose(value, first) for value in above)
            scales[name] = attenuations[name] * first if agree else None
        return scales[name]

    return {name: scale_of(name, frozenset()) for name in by_name}


def tempering_table(nodes: Sequence[TemperedNode], *, batch_size: int | None = None,
                    error_attenuation: bool = True, shunting: bool = False) -> TemperingTable:
    """Computes Schraudolph & Sejnowski's tempering for every node.

    Args:
        nodes: Every node with incoming weights (hidden and output layers).
        batch_size: |T| for the global-rate bound η*; None leaves the bound out.
        error_attenuation: Whether hidden nodes attenuate backpropagated error (else α = 1).
        shunting: Whether nodes with a bias use error shunting.

    Returns:
        The table, rows in the order of `nodes`.

    Raises:
        TemperingError: For an unknown activation or loss, an ε that cannot be derived, an
            inconsistent fan-in or neighbour list, or a cycle.
    """
    by_name = _check_structure(nodes)
    attenuations = {node.name: None if node.is_output else
                    _attenuation(node, by_name, error_attenuation) for node in nodes}
    scales = _error_scales(by_name, attenuations)
    rates = []
    for node in nodes:
        epsilon = _input_power_bound(node, by_name)
        multiplier = 1.0 / (activation_profile(node.activation).slope_maximum * math.sqrt(epsilon))
        scale = scales[node.name]
        rates.append(TemperedRate(
            name=node.name, rate_multiplier=multiplier, input_power_bound=epsilon,
            fan_out=sum(by_name[name].units for name in node.posterior),
            attenuation=attenuations[node.name],
            output_error_scale=scale if node.is_output else None,
            shunted=shunting and node.has_bias,
            effective_multiplier=None if scale is None else multiplier * scale,
        ))
    bound = None if batch_size is None else global_rate_bound(batch_size)
    return TemperingTable(rates=tuple(rates), global_rate_bound=bound)


def layerwise_decay(depths: Mapping[str, int], factor: float) -> dict[str, float]:
    """Decays rates geometrically from the top: multiplier = factor ** (max depth − depth).

    Args:
        depths: Depth of each node counted from the input (0 = first layer); the deepest
            (topmost) nodes keep multiplier 1.
        factor: Ratio between the rates of adjacent depths, in (0, 1] to slow lower layers.

    Returns:
        Rate multiplier per node name.
    """
    if factor <= 0 or any(depth < 0 for depth in depths.values()):
        raise TemperingError(f"layer-wise decay needs a positive factor (got {factor}) and "
                             "non-negative depths")
    top = max(depths.values(), default=0)
    return {name: factor ** (top - depth) for name, depth in depths.items()}


def width_scaled(fan_ins: Mapping[str, int], base_width: int) -> dict[str, float]:
    """Scales rates μP-style: multiplier = base_width / fan_in, so wider layers take smaller steps.

    Args:
        fan_ins: Fan-in of each node.
        base_width: The width at which the global rate was tuned (multiplier 1).

    Returns:
        Rate multiplier per node name.
    """
    if base_width < 1 or any(fan_in < 1 for fan_in in fan_ins.values()):
        raise TemperingError("width scaling needs a positive base width and positive fan-ins")
    return {name: base_width / fan_in for name, fan_in in fan_ins.items()}
