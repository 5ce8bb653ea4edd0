"""Check stage: `loss.terms`, the weights of the loss terms layers add.

In: the typed spec. Out: diagnostics appended to the list:

    E340  `loss.terms` names no term a layer of the network adds (`{kl: w}`), or no layer
          that adds the term (`{drop1: {kl: w}}`)
    E341  a key weighs a term that its layer's own parameters switch off (`ica` with
          `independence: false`)
    E342  layer loss terms in an ensemble, whose members' losses are formed per member without
          them (they would be left out)

What each layer type adds is its registry record's `declared_loss_terms`; the plan turns the
same records and weights into `LossTermPlan`s (`nndsl.plan.plan_loss_terms`).
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
    names = [layer.name for layer in layers]
    for key, value in spec.loss.terms.items():
        named = [(key, term, ("loss", "terms", key, term)) for term in value] \
            if isinstance(value, dict) else [(None, key, ("loss", "terms", key))]
        for layer_name, term, path in named:
            matches = [pair for pair in possible if pair[1] == term
                       and (layer_name is None or pair[0] == layer_name)]
            if any(pair in declared for pair in matches):
                continue
            written = f"`{term}`" if layer_name is None else f"`{term}` of `{layer_name}`"
            if layer_name is not None and layer_name not in names:
                diagnostics.add("E340", f"`loss.terms` weighs {written}, but the network has no "
                                f"layer `{layer_name}`", locate(("loss", "terms", layer_name)),
                                did_you_mean(layer_name, names) or "name a layer of the network")
                break
            if matches:
                owner = possible[matches[0]]
                diagnostics.add("E341", f"`loss.terms` weighs {written}, a term "
                                f"`{owner.name}` ({owner.type}) does not add with its parameters",
                                locate(path), f"switch the term on in `{owner.name}` (e.g. ica's "
                                "`independence: true`), or remove the weight")
                continue
            choices = sorted({name for _, name in declared} if layer_name is None else
                             {name for layer, name in declared if layer == layer_name})
            listed = ", ".join(f"`{name}`" for name in choices) or "none"
            where = "a layer adds" if layer_name is None else f"`{layer_name}` adds"
            hint = did_you_mean(term, choices) or "`nndsl show` lists the loss terms of the layers"
            if layer_name is None and term in names:
                hint = f"weigh one layer's term as `{term}: {{term: weight}}`"
            diagnostics.add("E340", f"`loss.terms` weighs {written}, but no loss term of that "
                            f"name {where} (terms: {listed})",
                            locate(path), hint)
    if declared and spec.ensemble is not None:
        layer_name, term = sorted(declared)[0]
        path = next(path for path, item in layer_entries(spec)
                    if isinstance(item, LayerSpec) and item.name == layer_name)
        diagnostics.add("E342", f"`{layer_name}` adds the loss term `{term}`, which an ensemble's "
                        "per-member losses leave out", locate(path),
                        "train the network alone, or use a layer without a loss term")
