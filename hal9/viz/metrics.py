"""Figures for :mod:`hal9.metrics`: Φ over bipartitions and compression per layer boundary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hal9.viz._common import _as_numpy, _new_figure

__all__ = ["plot_compression", "plot_cut_phis", "plot_phi_partitions"]


def plot_phi_partitions(
    values: Any, labels: Sequence[str], *, best: int | None = None, measure: str = "Φ"
) -> Figure:
    """Bar chart of an integration measure over bipartitions, sorted ascending, the MIB highlighted.

    Shape
    -----
    ``values``: ``(P,)`` nats for the ``P`` bipartitions named by ``labels`` (e.g. ``"0,1|2,3"``).
    """
    v = _as_numpy(values).astype(float).ravel()
    if v.size == 0 or v.size != len(labels):
        raise ValueError(
            f"values ({v.size}) and labels ({len(labels)}) must be non-empty and of equal length"
        )
    if best is not None and not 0 <= best < v.size:
        raise ValueError(f"best must index values (0..{v.size - 1}), got {best}")
    order = np.argsort(v, kind="stable")
    fig = _new_figure((max(6.0, min(0.25 * v.size, 18.0)), 4.0))
    ax = fig.add_subplot()
    colors = ["tab:red" if i == best else "tab:blue" for i in order]
    ax.bar(np.arange(v.size), v[order], color=colors)
    if v.size <= 40:
        ax.set_xticks(np.arange(v.size), [labels[i] for i in order], rotation=90, fontsize=7)
        ax.set_xlabel(f"bipartition (sorted by {measure})")
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{v.size} bipartitions, sorted by {measure}")
    ax.set_ylabel(f"{measure} (nats)")
    title = f"{measure} over bipartitions"
    if best is not None:
        title += f"; MIB {labels[best]} = {v[best]:.4g}"
    ax.set_title(title)
    return fig


def plot_cut_phis(values: Any, labels: Sequence[str], *, best: int, tied: Sequence[int] = ()) -> Figure:
    """Big Φ (IIT 3.0) of every unidirectional system cut, in evaluation order; the MIP cut red, ties orange.

    Shape
    -----
    ``values``: ``(C,)`` Φ of the ``C`` cuts named by ``labels`` (e.g. ``"[1, 2] -> [0]"``); ``best`` indexes
    the MIP cut, ``tied`` the other cuts with the same Φ. IIT 3.0's Φ has no unit (an EMD in concept space).
    """
    v = _as_numpy(values).astype(float).ravel()
    if v.size == 0 or v.size != len(labels):
        raise ValueError(
            f"values ({v.size}) and labels ({len(labels)}) must be non-empty and of equal length"
        )
    if not 0 <= best < v.size:
        raise ValueError(f"best must index values (0..{v.size - 1}), got {best}")
    fig = _new_figure((max(6.0, min(0.3 * v.size, 18.0)), 4.0))
    ax = fig.add_subplot()
    colors = [
        "tab:red" if i == best else "tab:orange" if i in set(tied) else "tab:blue" for i in range(v.size)
    ]
    ax.bar(np.arange(v.size), v, color=colors)
    if v.size <= 40:
        ax.set_xticks(np.arange(v.size), list(labels), rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
    ax.set_xlabel(f"{v.size} unidirectional cuts (from -> to)")
    ax.set_ylabel("Φ of the cut")
    ax.set_title(f"IIT 3.0 Φ over system cuts; MIP {labels[best]} = {v[best]:.6g}")
    return fig


def plot_compression(
    pairs: Sequence[str], width_ratio: Any, pr_ratio: Any, r2: Any, *, target: float = float(np.e)
) -> Figure:
    """Two panels per boundary ``L_k→L_{k+1}``: width and effective-dimension ratios vs the target, and R².

    Shape
    -----
    ``width_ratio``, ``pr_ratio``, ``r2``: ``(B,)`` for the ``B`` boundaries named by ``pairs``.
    """
    w, p, r = (_as_numpy(a).astype(float).ravel() for a in (width_ratio, pr_ratio, r2))
    if not (len(pairs) == w.size == p.size == r.size) or w.size == 0:
        raise ValueError("pairs, width_ratio, pr_ratio and r2 must be non-empty and of equal length")
    x = np.arange(w.size)
    fig = _new_figure((8.0, 5.0))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.plot(x, w, "o-", label="width ratio n_k / n_k+1")
    ax1.plot(x, p, "s-", label="effective-dimension ratio PR_k / PR_k+1")
    ax1.axhline(target, color="gray", ls="--", label=f"target {target:.3g}")
    ax1.set_ylabel("ratio (dimensionless)")
    ax1.legend(fontsize=8)
    ax2.bar(x, r, color="tab:green")
    ax2.axhline(0.0, color="black", lw=0.5)
    ax2.set_ylabel("CV reconstruction R²\n(L_k from L_k+1; dimensionless)")
    ax2.set_xticks(x, list(pairs))
    ax2.set_xlabel("layer boundary L_k → L_k+1")
    fig.suptitle("compression per layer boundary")
    return fig
