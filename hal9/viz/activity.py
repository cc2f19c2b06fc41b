"""Figures of recorded per-layer activity over time (heatmap, spike raster, or layer mean)."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure

from hal9.viz._common import NORMS, NormName, _as_numpy, _new_figure, color_scale, subsample_indices

__all__ = ["plot_layer_activity", "subsample_indices"]

_KINDS = ("heatmap", "raster", "mean")


def _is_spikes(data: np.ndarray) -> bool:
    """True when every entry is 0 or 1 (a spiking layer's recording)."""
    return bool(np.all((data == 0.0) | (data == 1.0)))


def _layer_matrix(key: str, value: Any) -> np.ndarray:
    """One recording as a real ``(T_rec, n)`` array in its own dtype (batch element 0 of a 3-D recording).

    Not widened here: a figure shows at most ``max_neurons`` columns, so only those are converted to
    float64 (a 100k-neuron demo would otherwise copy ~0.2 GB to draw 200 columns per layer).
    """
    arr = _as_numpy(value)
    if arr.ndim == 3:
        if arr.shape[1] == 0:
            raise ValueError(f"recordings[{key!r}] has an empty batch dimension; shape {arr.shape}")
        arr = arr[:, 0, :]
    elif arr.ndim != 2:
        raise ValueError(
            f"recordings[{key!r}] must be shaped (T_rec, n) or (T_rec, batch, n); got ndim {arr.ndim} "
            f"(shape {arr.shape})"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"recordings[{key!r}] needs at least one time step and one neuron; got {arr.shape}")
    if np.issubdtype(arr.dtype, np.complexfloating) or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise ValueError(f"recordings[{key!r}] must be real-valued; got dtype {arr.dtype}")
    return arr


def plot_layer_activity(
    recordings: Mapping[str, Any],
    *,
    dt: float = 1.0,
    every: int = 1,
    kind: Literal["heatmap", "raster", "mean"] = "heatmap",
    max_neurons: int = 200,
    title: str | None = None,
    norm: NormName = "auto",
    value_label: str | None = None,
    time_unit: str = "time unit of dt",
) -> Figure:
    """Plot recorded activity with one row of axes per layer and a shared time axis.

    Rows follow the mapping's order from the bottom up: the first key is drawn in the bottom row, so
    recordings given as L1, L2, ..., L9 show the top layer (L9) on top, as in :func:`plot_hierarchy`.
    Sample ``k`` of a recording is drawn at time ``t = k * every * dt``.

    Parameters
    ----------
    recordings : Mapping[str, array_like]
        Layer name -> recorded activity (numpy array or torch tensor on any device). A 3-D recording is
        ``(T_rec, batch, n)``; only batch element 0 is drawn.
    dt : float, default 1.0
        Integration time step, in the time unit of the x axis. Must be positive.
    every : int, default 1
        Recording stride in steps (the ``every`` passed to the runner). Must be a positive int.
    kind : {"heatmap", "raster", "mean"}, default "heatmap"
        ``"heatmap"``: neurons x time image, one colour bar per row.
        ``"raster"``: one dot per non-zero entry (spikes of a LIF layer).
        ``"mean"``: mean activity over all ``n`` neurons of the layer.
    max_neurons : int, default 200
        For "heatmap" and "raster", layers with more neurons are subsampled to this many evenly spaced
        neurons (first and last kept; see :func:`subsample_indices`). "mean" always averages all neurons.
    title : str, optional
        Figure title.
    norm : {"auto", "linear", "log", "symlog"}, default "auto"
        Colour scale of each "heatmap" row, chosen per layer by :func:`hal9.viz.color_scale`:
        linear unless the non-zero magnitudes span more than two decades (then log, or symlog for signed
        data). Signed data (e.g. ``tanh`` rates) get a diverging map with limits ``±max|r|``. Under a log
        scale, zeros are drawn white.
    value_label : str, optional
        Quantity and unit of the colour bars ("heatmap") or of the y axes ("mean"). Default: for a
        recording of only 0s and 1s (spikes) ``"spikes / step"`` (``"spikes / neuron / step"`` for
        "mean"), otherwise ``"rate r (a.u.)"`` (``"mean rate r (a.u.)"``).
    time_unit : str, default "time unit of dt"
        Unit of ``dt`` for the x axis label (e.g. ``"ms"``).

    Returns
    -------
    matplotlib.figure.Figure
        ``len(recordings)`` axes for "raster" and "mean"; ``2 * len(recordings)`` for "heatmap" (each row
        has a colour bar). ``fig.axes[:len(recordings)]`` are the data axes in the mapping's order.

    Raises
    ------
    ValueError
        If ``recordings`` is empty; if ``kind`` is unknown; if ``dt``, ``every`` or ``max_neurons`` is not
        positive; if a recording is not 2-D or 3-D, is empty, or is not real-valued (the message names the
        layer key); if ``norm`` is unknown.

    Shape
    -----
    - recordings[key]: ``(T_rec, n)`` or ``(T_rec, batch, n)``; ``T_rec`` and ``n`` may differ per layer.
    - heatmap image of a layer: ``(min(n, max_neurons), T_rec)``

    Notes
    -----
    The "raster" kind draws one marker per non-zero entry of the subsampled recording, so it costs
    O(T_rec * min(n, max_neurons)) in the worst case; the markers are rasterised in vector outputs.

    Examples
    --------
    >>> import numpy as np
    >>> from hal9.viz import plot_layer_activity
    >>> rng = np.random.default_rng(0)
    >>> rec = {"L1": rng.random((50, 300)), "L2": rng.random((50, 2, 40))}
    >>> fig = plot_layer_activity(rec, dt=0.5, every=2, kind="heatmap", max_neurons=100)
    >>> len(fig.axes)
    4
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}")
    if len(recordings) == 0:
        raise ValueError("recordings must hold at least one layer; got an empty mapping")
    if isinstance(dt, bool) or not isinstance(dt, Real) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive finite number; got {dt!r}")
    if isinstance(every, bool) or not isinstance(every, Integral) or every < 1:
        raise ValueError(f"every must be a positive int; got {every!r}")
    if isinstance(max_neurons, bool) or not isinstance(max_neurons, Integral) or max_neurons < 1:
        raise ValueError(f"max_neurons must be a positive int; got {max_neurons!r}")

    layers = [(str(key), _layer_matrix(str(key), value)) for key, value in recordings.items()]
    step = float(every) * float(dt)
    n_rows = len(layers)

    fig = _new_figure((10.0, 1.0 + 1.7 * n_rows))
    grid = fig.add_gridspec(n_rows, 1)
    axes = []
    for idx in range(n_rows):  # add in mapping order so fig.axes[i] is layer i; row n_rows-1-i is at the top
        share = axes[0] if axes else None
        axes.append(fig.add_subplot(grid[n_rows - 1 - idx, 0], sharex=share))

    for ax, (name, data) in zip(axes, layers, strict=True):
        t_rec, n = data.shape
        times = np.arange(t_rec, dtype=np.float64) * step
        spikes = _is_spikes(data)
        if kind == "mean":
            ax.plot(times, data.astype(np.float64, copy=False).mean(axis=1), color="tab:blue", linewidth=1.0)
            default = "spikes / neuron / step" if spikes else "mean rate r (a.u.)"
            ax.set_ylabel(f"{name}\n{value_label or default}")
            continue
        rows = subsample_indices(n, int(max_neurons))
        shown = f"{rows.size} of {n}" if rows.size < n else f"{n}"
        ax.set_ylabel(f"{name}\nneuron ({shown})")
        if kind == "heatmap":
            shown_data = data[:, rows].T.astype(np.float64, copy=False)
            scale = color_scale(shown_data, norm)
            image = ax.imshow(
                shown_data,
                aspect="auto",
                origin="lower",
                interpolation="nearest",
                cmap=scale.cmap,
                norm=scale.norm,
                extent=(-0.5 * step, (t_rec - 0.5) * step, -0.5, n - 0.5),
            )
            default = "spikes / step" if spikes else "rate r (a.u.)"
            fig.colorbar(image, ax=ax, pad=0.01, label=f"{value_label or default}\n{scale.describe()}")
        else:  # raster
            t_idx, col = np.nonzero(data[:, rows])
            ax.scatter(
                times[t_idx], rows[col], s=4.0, marker="o", linewidths=0, color="black", rasterized=True
            )
            ax.set_ylim(-0.5, n - 0.5)

    # shared x axis: cover the longest recording (layers may have been recorded for different lengths)
    t_max = max(data.shape[0] for _, data in layers)
    bottom = axes[0]
    bottom.set_xlim(-0.5 * step, (t_max - 0.5) * step)
    for ax in axes[1:]:
        ax.tick_params(labelbottom=False)
    bottom.set_xlabel(
        f"time ({time_unit}; dt = {dt:g}, recorded every {every} step{'s' if every > 1 else ''})"
    )
    if title is not None:
        fig.suptitle(title)
    return fig
