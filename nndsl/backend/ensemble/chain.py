"""Backend stage: an ensemble member read as one flat chain of torch modules, for the fast paths.

In: an ensemble member — the `GraphModule` that `nndsl train` builds for every member, or a plain
`nn.Sequential` (tests, benchmarks). Out: the modules the member applies one after the other to
its input, with every container whose forward is `nn.Sequential`'s own (a dense layer's linear map
and activation, a convolution's window) opened up, or None when the member is not such a chain.

The batched-matmul (`ensemble.linear`) and grouped-convolution (`ensemble.convolution`) paths
replace the member's forward by their own computation over this list, so a member qualifies only
when running the list in order is exactly what its forward does: each layer reads the layer before
(no branch, skip connection or second input), the last layer is the member's output, and nothing
else acts in between (tempering's error attenuation, checkpoint segments).
"""

from __future__ import annotations

from torch import nn

from nndsl.backend.graph_module import GraphModule
from nndsl.state_names import module_key


def chain_layers(member: nn.Module) -> list[nn.Module] | None:
    """The primitive modules `member` applies in order, or None when it is not a plain chain.

    Args:
        member: one ensemble member (a `GraphModule` or an `nn.Sequential`).

    Returns:
        The modules in application order, sequential containers opened up; None for any other
        member (branches, tempering, checkpoint segments, other module types).
    """
    if type(member) is GraphModule:
        layers = _graph_chain(member)
        return None if layers is None else _opened(layers)
    if _is_plain_sequential(member):
        return _opened(list(member))
    return None


def _graph_chain(member: GraphModule) -> list[nn.Module] | None:
    """A graph module's layers in order when each reads only the one before and the last is the
    output; None when anything else happens in its forward."""
    if not member.tensor_only or member.attenuation or member.segments:
        return None
    previous, layers = member.source, []
    for name in member.order:
        if member.inputs[name] != [previous]:
            return None
        layers.append(member.layers[module_key(name)])
        previous = name
    return layers if layers and previous == member.output else None


def _is_plain_sequential(module: nn.Module) -> bool:
    """An `nn.Sequential` (or a subclass such as a dense layer) that runs its children in order:
    a subclass overriding forward may do anything else."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _opened(modules: list[nn.Module]) -> list[nn.Module]:
    """The modules with every plain sequential container replaced by its children, recursively."""
    opened: list[nn.Module] = []
    for module in modules:
        if _is_plain_sequential(module):
            opened.extend(_opened(list(module)))
        else:
            opened.append(module)
    return opened
