"""Figure of a neuron-level weight matrix ``W_ij`` (target ``i`` ← source ``j``), dense or sparse."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hal9.viz._common import NORMS, NormName, _as_numpy, _new_figure, draw_matrix, subsample_indices

__all__ = ["plot_weight_matrix"]


def _coo(weight: Any) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray] | None:
    """``(shape, rows, cols, values)`` of a sparse torch tensor or scipy.sparse matrix; ``None`` if dense."""
    layout = getattr(weight, "layout", None)
    if layout is not None and "strided" not in str(layout):  # torch sparse (COO / CSR / CSC / BSR)
        t = weight.detach().cpu().to_sparse_coo().coalesce()
        idx = t.indices().numpy()
        vals = t.values()
        if vals.is_floating_point() and vals.dtype.itemsize < 4:
            vals = vals.float()
        return (int(t.shape[0]), int(t.shape[1])), idx[0], idx[1], vals.numpy()
    if hasattr(weight, "tocoo"):  # scipy.sparse, duck-typed
        m = weight.tocoo()
        return (int(m.shape[0]), int(m.shape[1])), np.asarray(m.row), np.asarray(m.col), np.asarray(m.data)
    return None


def _shown_matrix(weight: Any, max_neurons: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The ``(m, m)`` float64 submatrix on evenly spaced neurons ``idx``; returns it, ``idx`` and ``N``."""
    sparse = _coo(weight)
    shape = sparse[0] if sparse is not None else _as_numpy(weight).shape
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] == 0:
        raise ValueError(f"weight must be a non-empty square (N, N) matrix; got shape {tuple(shape)}")
    n = int(shape[0])
    idx = subsample_indices(n, max_neurons)
    if sparse is None:
        arr = _as_numpy(weight)
        if arr.dtype == np.bool_:  # an adjacency matrix
            arr = arr.astype(np.float64)
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise ValueError(f"weight must be real-valued; got dtype {arr.dtype}")
        shown = arr[np.ix_(idx, idx)].astype(np.float64)
    else:
        _, rows, cols, vals = sparse
        if not np.issubdtype(vals.dtype, np.number) or np.issubdtype(vals.dtype, np.complexfloating):
            raise ValueError(f"weight must be real-valued; got dtype {vals.dtype}")
        pos = np.full(n, -1, dtype=np.int64)
        pos[idx] = np.arange(idx.size)
        keep = (pos[rows] >= 0) & (pos[cols] >= 0)
        shown = np.zeros((idx.size, idx.size), dtype=np.float64)
        shown[pos[rows[keep]], pos[cols[keep]]] = vals[keep]
    if not np.all(np.isfinite(shown)):
        raise ValueError("weight must be finite (no NaN or inf)")
    return shown, idx, n


def plot_weight_matrix(
    weight: Any,
    *,
    sizes: Sequence[int] | None = None,
    norm: NormName = "auto",
    max_neurons: int = 500,
    title: str | None = None,
) -> Figure:
    """Heatmap of a synaptic weight matrix ``W_ij`` (synapse from source ``j`` onto target ``i``).

    Axis convention (the same as every matrix in :mod:`hal9.viz`): source neuron ``j`` (presynaptic) on
    the x axis, target neuron ``i`` (postsynaptic) on the y axis, neuron 0 at the bottom left, since
    ``W`` has rows = targets. Absent synapses (zero entries) are blank. The colour scale comes from
    :func:`hal9.viz.color_scale`: linear unless the non-zero ``|W_ij|`` span more than two decades
    (``max / P5 > 100``), then log (all weights ``>= 0``) or symmetric log (signed weights, ``linthresh =
    P5(|W_ij| > 0)``); signed weights use a diverging map with limits ``±max|W_ij|``. The colour bar reads
    ``"weight W_ij (a.u.); <scale>"``.

    Parameters
    ----------
    weight : array_like or sparse tensor
        ``(N, N)`` weights: numpy array, torch tensor (dense or sparse COO/CSR, any device; e.g.
        ``Network.weight``) or ``scipy.sparse`` matrix. Real and finite.
    sizes : sequence of int, optional
        Layer sizes summing to ``N`` (neurons numbered layer by layer, L1 first): layer boundaries are
        drawn as grey lines and the ticks name the layers.
    norm : {"auto", "linear", "log", "symlog"}, default "auto"
        Colour scale (see above).
    max_neurons : int, default 500
        With ``N > max_neurons``, the same ``max_neurons`` evenly spaced neurons (first and last kept) are
        shown on both axes; axes keep the original neuron indices and the title says how many are shown.
        For a sparse ``W`` the shown submatrix keeps its density, not every synapse.
    title : str, optional
        Figure title (default ``"W_ij, target i ← source j"``).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the heatmap and its colour bar.

    Raises
    ------
    ValueError
        If ``weight`` is not a non-empty square real finite matrix; if ``sizes`` are not positive ints
        summing to ``N``; if ``max_neurons < 1``; if ``norm`` is unknown or ``"log"`` for signed weights.

    Shape
    -----
    - weight: ``(N, N)``, indexed ``[target, source]``
    - sizes: ``(K,)`` with ``sum(sizes) == N``
    - drawn image: ``(min(N, max_neurons), min(N, max_neurons))``

    Notes
    -----
    Memory ``O(min(N, max_neurons)²)`` beyond a dense input; a sparse input is never densified in full.

    Examples
    --------
    >>> import numpy as np
    >>> from hal9.viz import plot_weight_matrix
    >>> w = np.random.default_rng(0).normal(size=(30, 30)) * (np.random.default_rng(1).random((30, 30)) < 0.2)
    >>> fig = plot_weight_matrix(w, sizes=[20, 10])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('source neuron j (presynaptic)', 'target neuron i (postsynaptic)')
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")
    if isinstance(max_neurons, bool) or not isinstance(max_neurons, Integral) or max_neurons < 1:
        raise ValueError(f"max_neurons must be a positive int; got {max_neurons!r}")
    shown, idx, n = _shown_matrix(weight, int(max_neurons))
    bounds: np.ndarray | None = None
    if sizes is not None:
        sz = [int(s) for s in sizes] if all(isinstance(s, Integral) for s in sizes) else []
        if not sz or any(s < 1 for s in sz) or sum(sz) != n:
            raise ValueError(f"sizes must be positive ints summing to N = {n}; got {list(sizes)}")
        bounds = np.cumsum([0, *sz])

    fig = _new_figure((7.0, 6.0))
    ax = fig.add_subplot()
    extent = (-0.5, n - 0.5, -0.5, n - 0.5)
    draw_matrix(ax, shown, what="neuron", quantity="weight W_ij (a.u.)", norm=norm, extent=extent)
    ax.set_aspect("equal")
    if bounds is not None:
        for b in bounds[1:-1]:
            ax.axvline(b - 0.5, color="0.4", lw=0.6)
            ax.axhline(b - 0.5, color="0.4", lw=0.6)
        centres = 0.5 * (bounds[:-1] + bounds[1:]) - 0.5
        layer_ticks = [f"L{k + 1}" for k in range(len(bounds) - 1)]
        sec_x = ax.secondary_xaxis("top")
        sec_x.set_xticks(centres, layer_ticks, fontsize=8)
        sec_y = ax.secondary_yaxis("right")
        sec_y.set_yticks(centres, layer_ticks, fontsize=8)
    shown_note = f" ({idx.size} of {n} neurons shown, evenly spaced)" if idx.size < n else ""
    ax.set_title((title or "W_ij, target i ← source j") + shown_note, fontsize=10)
    return fig
