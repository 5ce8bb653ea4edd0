"""How a network's weights are named in its state dict, without torch.

In: layer names of the IR graph. Out: the keys under which the backend's `GraphModule` holds
each layer's tensors (`layers.<module key>.<tensor>`), and the names of the tensors that layers
keep as buffers rather than learned parameters. The plan stage reads checkpoints with these
names (torch-free) and the backend builds its modules with them, so both agree by construction;
tests/backend/test_state_names.py checks the buffers of built networks against `BUFFER_NAMES`.
"""

from __future__ import annotations

#: The attribute of `GraphModule` holding one module per layer.
LAYERS = "layers"

#: The buffers layers save in a state dict: batch norm's running statistics, the whitened
#: linear layer's whitening matrix and mean, tempering's error attenuation, the predictor
#: layer's assignment of predictors to networks. They are not parameters: a checkpoint's
#: parameter count leaves them out.
BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked", "whitening",
                          "mean", "attenuation", "network_of"})


def module_key(layer: str) -> str:
    """The key of a layer's module in `GraphModule.layers` (torch forbids '.' there)."""
    return layer.replace(".", "__")


def layer_prefix(layer: str) -> str:
    """The state-dict prefix of every tensor of `layer`, e.g. `layers.block__dense.`."""
    return f"{LAYERS}.{module_key(layer)}."


def is_buffer(key: str) -> bool:
    """Whether a state-dict key names a buffer (see `BUFFER_NAMES`), not a learned parameter."""
    return key.rsplit(".", 1)[-1] in BUFFER_NAMES
