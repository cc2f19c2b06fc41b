"""Figure of the layer sizes and the inter-layer connectivity of a hierarchy.

The functions here take plain arrays (numpy arrays, torch tensors, nested sequences) so that ``hal9.viz``
depends on no other hal9 module. Figures are built with matplotlib's object-oriented API
(:class:`~matplotlib.figure.Figure` + Agg canvas): no pyplot, no global figure registry, no GUI backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from hal9.viz._common import NormName, _as_numpy, _new_figure, draw_matrix

__all__ = ["DEFAULT_LAYER_NAMES", "plot_hierarchy"]

#: Default row labels, L1 at index 0 (defined here so that ``hal9.viz`` imports nothing from hal9).
DEFAULT_LAYER_NAMES: tuple[str, ...] = (
    "L1 reflexive",
    "L2 implementation",
    "L3 operational",
    "L4 tactical",
    "L5 strategic",
    "L6 executive",
    "L7 business",
    "L8 visionary",
    "L9 universal",
)

# Layer sizes: the bar axis switches to logarithmic when max/min > 100.
_LOG_SIZE_RATIO = 100.0


def _layer_ticks(k: int) -> list[str]:
    return [f"L{i + 1}" for i in range(k)]


def _validate_sizes(sizes: Sequence[int] | Any) -> np.ndarray:
    arr = _as_numpy(sizes)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"sizes must be a non-empty 1-D sequence of positive ints; got shape {arr.shape}")
    values = arr.tolist()
    for v in values:
        ok_int = isinstance(v, Integral) or (isinstance(v, float) and v.is_integer())
        if isinstance(v, bool) or not ok_int or v <= 0:
            raise ValueError(f"sizes must be positive ints; got {values}")
    return np.asarray([int(v) for v in values], dtype=np.int64)


def _validate_connectivity(connectivity: Any, k: int) -> np.ndarray:
    conn = _as_numpy(connectivity)
    if conn.shape != (k, k):
        raise ValueError(
            f"connectivity must be square of size len(sizes) = {k}, i.e. shape ({k}, {k}); got {conn.shape}"
        )
    if not np.issubdtype(conn.dtype, np.number) or np.issubdtype(conn.dtype, np.complexfloating):
        raise ValueError(f"connectivity must be real-valued; got dtype {conn.dtype}")
    conn = conn.astype(np.float64)
    if not np.all(np.isfinite(conn)):
        raise ValueError("connectivity must be finite (no NaN or inf)")
    if np.any(conn < 0):
        raise ValueError("connectivity holds total |synaptic weight| per layer pair and must be non-negative")
    return conn


def _band_outline(k: int) -> np.ndarray:
    """Vertices of the staircase polygon around the cells with ``|i - j| <= 1`` (cells centred on integers).

    x is the source layer (column j), y the target layer (row i).
    """
    right = [(min(k - 1, i + 1) + 0.5, y) for i in range(k) for y in (i - 0.5, i + 0.5)]
    left = [(max(0, i - 1) - 0.5, y) for i in reversed(range(k)) for y in (i + 0.5, i - 0.5)]
    return np.asarray(right + left, dtype=np.float64)


def plot_hierarchy(
    sizes: Sequence[int],
    connectivity: Any,
    *,
    names: Sequence[str] | None = None,
    title: str | None = None,
    norm: NormName = "auto",
) -> Figure:
    """Draw the layer sizes and the inter-layer connectivity matrix of a hierarchy.

    Panel (a) is a horizontal bar chart of layer sizes with L1 at the bottom; each bar is labelled with its
    size and the y tick labels carry the layer names. The x axis is logarithmic when
    ``max(sizes) / min(sizes) > 100``.

    Panel (b) is a heatmap of ``connectivity[i, j]``, the total ``|w|`` from source layer ``j``
    (presynaptic, x axis) onto target layer ``i`` (postsynaptic, y axis), L1 at the bottom left: the
    convention of every matrix in :mod:`hal9.viz`. Zero entries are left blank (white). The colour scale
    is chosen by :func:`hal9.viz.color_scale`: logarithmic when the non-zero entries span more
    than two decades (``max / P5 > 100``), linear otherwise; the colour bar reads
    ``"total |w| per layer pair (a.u.); <scale> scale"``. A dashed outline marks the adjacency band
    ``|i - j| <= 1``, and the panel title reports the total outside it, which is 0 for a hal9 network.

    Parameters
    ----------
    sizes : sequence of int
        Number of neurons per layer, L1 first. All entries must be positive integers.
    connectivity : array_like
        Total absolute synaptic weight per (target, source) layer pair, in the (arbitrary) unit of the
        weights; non-negative and finite. A numpy array, a torch tensor (any device) or a nested sequence.
    names : sequence of str, optional
        One label per layer. Default: ``DEFAULT_LAYER_NAMES[:K]`` ("L1 reflexive", ...), with ``"L{k}"``
        beyond the ninth layer.
    title : str, optional
        Figure title.
    norm : {"auto", "linear", "log", "symlog"}, default "auto"
        Colour scale of panel (b); ``"auto"`` chooses linear or log as above.

    Returns
    -------
    matplotlib.figure.Figure
        A figure with three axes: the bar chart, the heatmap and the heatmap's colour bar.

    Raises
    ------
    ValueError
        If ``sizes`` is empty or holds a non-positive or non-integer entry; if ``connectivity`` is not
        ``(K, K)`` or holds negative or non-finite values; if ``names`` does not have ``K`` entries; if
        ``norm`` is unknown, or ``"log"``/``"symlog"`` with an all-zero ``connectivity``.

    Shape
    -----
    - sizes: ``(K,)``
    - connectivity: ``(K, K)``, indexed ``[target, source]``
    - names: ``(K,)``

    Notes
    -----
    Cost is O(K²) drawing operations; nothing depends on the number of neurons.

    Examples
    --------
    >>> import numpy as np
    >>> from hal9.viz import plot_hierarchy, save_figure
    >>> sizes = [4096, 1024, 256, 64]
    >>> conn = np.diag([5.0, 3.0, 2.0, 1.0]) + np.diag([0.5, 0.4, 0.3], -1) + np.diag([0.2, 0.1, 0.1], 1)
    >>> fig = plot_hierarchy(sizes, conn, title="4-layer hierarchy")
    >>> len(fig.axes)
    3
    >>> fig.axes[1].get_xlabel(), fig.axes[1].images[0].norm.__class__.__name__
    ('source layer j (presynaptic)', 'Normalize')
    """
    size_arr = _validate_sizes(sizes)
    k = int(size_arr.size)
    conn = _validate_connectivity(connectivity, k)
    if names is None:
        labels = [DEFAULT_LAYER_NAMES[i] if i < len(DEFAULT_LAYER_NAMES) else f"L{i + 1}" for i in range(k)]
    else:
        labels = [str(n) for n in names]
        if len(labels) != k:
            raise ValueError(f"names must have one entry per layer (K = {k}); got {len(labels)}")

    fig = _new_figure((12.0, max(3.8, 0.45 * k + 2.0)))
    ax_sizes, ax_conn = fig.subplots(1, 2, width_ratios=(1.0, 1.1))

    # (a) layer sizes
    ys = np.arange(k)
    bars = ax_sizes.barh(ys, size_arr, height=0.7, color="tab:blue")
    ax_sizes.bar_label(bars, labels=[f"{int(s):,}" for s in size_arr], padding=3, fontsize=8)
    ax_sizes.set_yticks(ys, labels=labels)
    ax_sizes.set_ylim(-0.6, k - 0.4)
    smin, smax = float(size_arr.min()), float(size_arr.max())
    if smax / smin > _LOG_SIZE_RATIO:
        ax_sizes.set_xscale("log")
        ax_sizes.set_xlim(smin / 3.0, smax * 12.0)  # room on the right for the size labels
        ax_sizes.set_xlabel("neurons per layer (log scale)")
    else:
        ax_sizes.set_xlim(0.0, smax * 1.25)
        ax_sizes.set_xlabel("neurons per layer")
    ax_sizes.set_title("(a) layer sizes")

    # (b) inter-layer connectivity [target, source], zeros blank
    draw_matrix(ax_conn, conn, what="layer", quantity="total |w| per layer pair (a.u.)", norm=norm)
    ticks = _layer_ticks(k)
    ax_conn.set_xticks(ys, labels=ticks)
    ax_conn.set_yticks(ys, labels=ticks)
    ax_conn.add_patch(
        Polygon(_band_outline(k), closed=True, fill=False, edgecolor="tab:red", linestyle="--", linewidth=1.5)
    )
    ii, jj = np.indices((k, k))
    outside = float(conn[np.abs(ii - jj) > 1].sum())
    ax_conn.set_title(f"(b) total |w|, target ← source\noutside ±1 band: {outside:.3g}")

    if title is not None:
        fig.suptitle(title)
    return fig
