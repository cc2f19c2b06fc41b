"""Layer names and designed layer sizes of the L1..L9 hierarchy.

Designed sizes follow a geometric compression between adjacent layers:

    n_k = max(1, round(n_1 / r^(k-1))),   k = 1..K

with compression ratio ``r > 1`` (default e ≈ 2.718, so that each layer holds 1/e of the neurons of the
one below it).
"""

from __future__ import annotations

import math

__all__ = ["LAYER_NAMES", "MAX_LAYERS", "designed_sizes", "layer_name", "sizes_for_total"]

#: Names of the nine HAL9 layers, index 0 is L1.
LAYER_NAMES: tuple[str, ...] = (
    "reflexive",
    "implementation",
    "operational",
    "tactical",
    "strategic",
    "executive",
    "business",
    "visionary",
    "universal",
)
MAX_LAYERS = len(LAYER_NAMES)


def layer_name(index: int) -> str:
    """Return ``"L<k> <name>"`` for the 0-based layer ``index`` (``0 → "L1 reflexive"``)."""
    if not 0 <= index < MAX_LAYERS:
        raise ValueError(f"layer index must be in 0..{MAX_LAYERS - 1}, got {index}")
    return f"L{index + 1} {LAYER_NAMES[index]}"


def _check_layers_ratio(n_layers: int, ratio: float) -> None:
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 1 <= n_layers <= MAX_LAYERS:
        raise ValueError(f"n_layers must be an integer in 1..{MAX_LAYERS}, got {n_layers!r}")
    if not math.isfinite(ratio) or ratio <= 1.0:
        raise ValueError(f"ratio must be a finite number > 1, got {ratio!r}")


def designed_sizes(base_size: int, n_layers: int = MAX_LAYERS, ratio: float = math.e) -> tuple[int, ...]:
    """Designed layer sizes ``n_k = max(1, round(base_size / ratio**(k-1)))``.

    Parameters
    ----------
    base_size : int
        Size ``n_1`` of L1 (> 0).
    n_layers : int, default 9
        Number of layers ``K`` in ``1..9``.
    ratio : float, default e
        Compression ratio ``r > 1`` between adjacent layers.

    Returns
    -------
    tuple of int
        ``(n_1, ..., n_K)``.

    Examples
    --------
    >>> designed_sizes(1000, 4, 2.0)
    (1000, 500, 250, 125)
    """
    _check_layers_ratio(n_layers, ratio)
    if isinstance(base_size, bool) or not isinstance(base_size, int) or base_size <= 0:
        raise ValueError(f"base_size must be a positive integer, got {base_size!r}")
    return tuple(max(1, round(base_size / ratio**k)) for k in range(n_layers))


def sizes_for_total(total: int, n_layers: int = MAX_LAYERS, ratio: float = math.e) -> tuple[int, ...]:
    """Designed sizes whose sum is as close as possible to ``total`` neurons.

    Solves for ``n_1`` with the geometric series ``total ≈ n_1 (1 - r^-K) / (1 - 1/r)`` and then
    adjusts ``n_1`` by whole neurons so that ``sum(sizes)`` is the closest achievable value.

    Examples
    --------
    >>> s = sizes_for_total(10_000)
    >>> len(s), abs(sum(s) - 10_000) <= 5
    (9, True)
    """
    _check_layers_ratio(n_layers, ratio)
    if isinstance(total, bool) or not isinstance(total, int) or total < n_layers:
        raise ValueError(f"total must be an integer >= n_layers ({n_layers}), got {total!r}")
    geom = (1.0 - ratio ** (-n_layers)) / (1.0 - 1.0 / ratio)
    n1 = max(1, round(total / geom))
    best = designed_sizes(n1, n_layers, ratio)
    for cand in range(max(1, n1 - 3 * n_layers), n1 + 3 * n_layers + 1):
        s = designed_sizes(cand, n_layers, ratio)
        if abs(sum(s) - total) < abs(sum(best) - total):
            best = s
    return best
