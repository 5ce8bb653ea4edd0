"""Check stage: `loss.terms`, the weights of the loss terms layers add.

In: the typed spec. Out: diagnostics appended to the list:

    E340  a key of `loss.terms` names no term a layer of the network adds (`kl`, `drop1.kl`)
    E341  a key weighs a term that its layer's own parameters switch off (`ica` with
          `independence: false`)
    E342  layer loss terms in an ensemble, whose members' losses are formed per member without
          them (they would be left out)

What each layer type adds is its registry record's `declared_loss_terms`; the plan turns the
same records and weights into `LossTermPlan`s (`nndsl.plan.loss_terms`).
"""

from __future__ import annotations

from nndsl.check.references import layer_entries
from nndsl.diagnostics import StageContext, did_you_mean
from nndsl.layers import LAYERS
from nndsl.spec import Spec
from nndsl.spec.network import LayerSpec


def _layers(spec: Spec) -> list[LayerSpec]:
    return [item for _, item in layer_entries(spec)
            if isinstance(item, LayerSpec) and item.type in LAYERS]


def check_loss_terms(spec: Spec, context: StageContext) -> None:
    """Every weight in `loss.terms` names a term a layer adds; none in an ensemble."""
    locate, diagnostics = context.locate, context.diagnostics
    layers = _layers(spec)
    declared = {(layer.name, term.name) for layer in layers
                for term in LAYERS.get(layer.type).declared_loss_terms(layer.params)}
    possible = {(layer.name, term.name): layer for layer in layers
                for term in LAYERS.get(layer.type).loss_terms}
    names = {term for _, term in declared} | {f"{layer}.{term}" for layer, term in declared}
    for key in spec.loss.terms:
        layer_name, _, term = key.rpartition(".")
        matches = [pair for pair in possible if pair[1] == term
                   and (not layer_name or pair[0] == layer_name)]
        if any(pair in declared for pair in matches):
            continue
        path = ("loss", "terms", key)
        if matches:
            owner = possible[matches[0]]
            diagnostics.add("E341", f"`{key}` weighs the `{term}` term, which `{owner.name}` "
                            f"({owner.type}) does not add with its parameters",
                            locate(path), f"switch the term on in `{owner.name}` (e.g. ica's "
                            "`independence: true`), or remove the weight")
            continue
        listed = ", ".join(f"`{name}`" for name in sorted(names)) or "none"
        diagnostics.add("E340", f"`{key}` names no loss term a layer adds (terms: {listed})",
                        locate(path), did_you_mean(key, names)
                        or "`nndsl show` lists the loss terms of the network's layers")
    if declared and spec.ensemble is not None:
        layer_name, term = sorted(declared)[0]
        path = next(path for path, item in layer_entries(spec)
                    if isinstance(item, LayerSpec) and item.name == layer_name)
        diagnostics.add("E342", f"`{layer_name}` adds the loss term `{term}`, which an ensemble's "
                        "per-member losses leave out", locate(path),
                        "train the network alone, or use a layer without a loss term")
