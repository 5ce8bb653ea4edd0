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
    >>> window_output("T", 3, 2, 1, "conv")
    '(T-1)/2+1'
    """
    if is_symbolic(dim):
        if stride == 1 and kernel == 2 * padding + 1:
            return dim
        # floor((T + 2p - k) / s) + 1 = floor((T + 2p - k + s) / s): floor(T / s) exactly when
        # 2p - k + s = 0 (any other offset rounds differently for some T).
        if 2 * padding - kernel + stride == 0:
            return _divide_symbol(str(dim), stride)
        if stride == 1:
            base = str(dim) if str(dim).replace("/", "").isalnum() else f"({dim})"
            return f"{base}{2 * padding - kernel + 1:+d}"
        return f"({dim}{2 * padding - kernel:+d})/{stride}+1"
    size = (int(dim) + 2 * padding - kernel) // stride + 1
    if size < 1:
        raise ShapeProblem("E503", f"{what} with kernel {kernel}, stride {stride}, padding "
                           f"{padding} turns length {dim} into {size}",
                           "use a smaller kernel or stride, more padding, or fewer pooling layers")
    return size


def _divide_symbol(symbol: str, factor: int) -> str:
    """`symbol` / `factor` rounded down: "T/2" halved is "T/4"
    (floor(floor(T/2)/2) = floor(T/4))."""
    base, _, divisor = symbol.partition("/")
    if base.isidentifier() and (divisor.isdigit() or not divisor):
        return f"{base}/{int(divisor or 1) * factor}"
    return f"({symbol})/{factor}"  # a compound length such as (T-1)/2+1


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
        raise ShapeProblem("E504", f"`{layer}` takes {meaning}, but its input has shape "
                                   f"{format_shape(shape)}",
                           "insert a reshaping layer (flatten, add_channel, to_sequence) before it")


def check_size(value: int, what: str) -> None:
    if value > MAX_ELEMENTS:
        raise ShapeProblem("E507", f"{what} has {value:,} elements",
                           "that cannot fit in memory; use smaller sizes")
