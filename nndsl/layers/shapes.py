"""Shape arithmetic shared by layer shape rules, with symbolic time lengths.

Sizes are ints; a variable sequence length is a string such as "T". Pooling or striding over a
symbolic axis gives "T/2", "T/4", ... for display; the backend recomputes true lengths per batch.
"""

from __future__ import annotations

from nndsl.layers.registry import Dim, Shape, ShapeProblem

MAX_ELEMENTS = 10**10  # a shape above this is refused rather than allocated


def is_symbolic(dim: Dim) -> bool:
    return isinstance(dim, str)


def format_shape(shape: Shape) -> str:
    """`[T, 40]` style text."""
    return "[" + ", ".join(str(dim) for dim in shape) + "]"


def window_output(dim: Dim, kernel: int, stride: int, padding: int, what: str) -> Dim:
    """Length after a convolution or pooling window: floor((n + 2p - k) / s) + 1.

    >>> window_output(8, 3, 1, 0, "conv")
    6
    >>> window_output("T", 2, 2, 0, "pool")
    'T/2'
    """
    if is_symbolic(dim):
        if stride == 1 and kernel == 2 * padding + 1:
            return dim
        if 2 * padding - kernel + stride in range(stride):  # equals floor(T / stride)
            return _divide_symbol(str(dim), stride)
        return f"({dim}{2 * padding - kernel:+d})/{stride}+1"
    size = (int(dim) + 2 * padding - kernel) // stride + 1
    if size < 1:
        raise ShapeProblem("E503", f"{what} with kernel {kernel}, stride {stride}, padding {padding} "
                           f"turns length {dim} into {size}",
                           "use a smaller kernel or stride, more padding, or fewer pooling layers")
    return size


def _divide_symbol(symbol: str, factor: int) -> str:
    if "/" in symbol and symbol.rsplit("/", 1)[1].isdigit():
        base, divisor = symbol.rsplit("/", 1)
        return f"{base}/{int(divisor) * factor}"
    return f"{symbol}/{factor}"


def element_count(shape: Shape) -> int | None:
    """Elements in one example (None if a dimension is symbolic)."""
    total = 1
    for dim in shape:
        if is_symbolic(dim):
            return None
        total *= int(dim)
    return total


def require_rank(shape: Shape, ranks: tuple[int, ...], layer: str, meaning: str) -> None:
    if len(shape) not in ranks:
        raise ShapeProblem("E504", f"`{layer}` takes {meaning}, but its input has shape {format_shape(shape)}",
                           "insert a reshaping layer (flatten, add_channel, to_sequence) before it")


def check_size(value: int, what: str) -> None:
    if value > MAX_ELEMENTS:
        raise ShapeProblem("E507", f"{what} has {value:,} elements", "that cannot fit in memory; use smaller sizes")
