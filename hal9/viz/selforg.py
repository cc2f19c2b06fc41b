"""Figures for :mod:`hal9.selforg`: the emergent hierarchy, neurons in feature space, real vs null."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hal9.viz._common import NormName, _as_numpy, _new_figure, draw_matrix

__all__ = ["plot_emergent_hierarchy", "plot_feature_space", "plot_null_comparison"]


def _labels_features(labels: Any, features: Any) -> tuple[np.ndarray, np.ndarray]:
    lab = _as_numpy(labels).astype(np.int64).ravel()
    feat = _as_numpy(features).astype(float)
    if feat.ndim != 2 or feat.shape[0] != lab.size or lab.size == 0:
        raise ValueError(f"features must be (N, F) with N = len(labels) = {lab.size}, got {feat.shape}")
    if lab.min() < 0:
        raise ValueError("labels must be non-negative layer indices")
    return lab, feat


def _with_unit(name: str) -> str:
    """``"speed"`` -> ``"speed (a.u.)"``; a name that already carries a unit in parentheses is kept."""
    return name if "(" in name else f"{name} (a.u.)"


def plot_emergent_hierarchy(
    labels: Any,
    features: Any,
    connectivity: Any,
    *,
    feature_names: Sequence[str] = ("speed", "complexity"),
    title: str | None = None,
    norm: NormName = "auto",
) -> Figure:
    """Layer sizes, per-layer feature distributions (box plots) and the inter-layer connectivity heatmap.

    The heatmap follows the matrix convention of :mod:`hal9.viz`: source layer ``j`` on the x axis,
    target layer ``i`` on the y axis, L1 at the bottom left (the emergent graph is undirected, so the
    matrix is symmetric and both readings agree). Zero entries are blank; the colour scale is linear
    unless the non-zero entries span more than two decades (``max / P5 > 100``), then logarithmic
    (:func:`hal9.viz.color_scale`). Features are dimensionless and labelled "(a.u.)".

    Parameters
    ----------
    labels : array_like
        ``(N,)`` non-negative layer index of each neuron (0 = L1).
    features : array_like
        ``(N, F)`` neuron features; the first ``len(feature_names)`` columns get a box-plot panel.
    connectivity : array_like
        ``(K, K)`` summed edge weight between (off-diagonal) and inside (diagonal) layers,
        ``K = max(labels) + 1``; finite.
    feature_names : sequence of str, default ("speed", "complexity")
        Names of the plotted feature columns.
    title : str, optional
        Figure title.
    norm : {"auto", "linear", "log", "symlog"}, default "auto"
        Colour scale of the connectivity heatmap.

    Returns
    -------
    matplotlib.figure.Figure
        ``3 + len(feature_names)`` axes (fewer names if ``F`` is smaller): sizes, one box-plot panel per
        feature, the heatmap and its colour bar.

    Raises
    ------
    ValueError
        If ``features`` is not ``(N, F)`` with ``N = len(labels)``; if a label is negative; if
        ``connectivity`` is not ``(K, K)`` or not finite; if ``norm`` is unknown.
    """
    lab, feat = _labels_features(labels, features)
    k = int(lab.max()) + 1
    conn = _as_numpy(connectivity).astype(float)
    if conn.shape != (k, k):
        raise ValueError(f"connectivity must be ({k}, {k}) for {k} layers, got {conn.shape}")
    if not np.all(np.isfinite(conn)):
        raise ValueError("connectivity must be finite (no NaN or inf)")
    names = list(feature_names)[: feat.shape[1]]
    fig = _new_figure((4.0 * (2 + len(names)), 4.0))
    axes = fig.subplots(1, 2 + len(names))
    sizes = np.bincount(lab, minlength=k)
    ticks = [f"L{i + 1}" for i in range(k)]
    axes[0].barh(np.arange(k), sizes, color="tab:blue")
    axes[0].set_yticks(np.arange(k), ticks)
    axes[0].set_xlabel("neurons per layer")
    axes[0].set_ylabel("emergent layer")
    axes[0].set_title("layer sizes")
    for ax, (f, name) in zip(axes[1:-1], enumerate(names), strict=True):
        ax.boxplot([feat[lab == i, f] for i in range(k)], orientation="horizontal", tick_labels=ticks)
        ax.set_xlabel(_with_unit(name))
        ax.set_title(f"{name} per layer")
    draw_matrix(axes[-1], conn, what="layer", quantity="summed edge weight (a.u.)", norm=norm)
    axes[-1].set_xticks(np.arange(k), ticks)
    axes[-1].set_yticks(np.arange(k), ticks)
    axes[-1].set_title("edge weight between layers\n(undirected: symmetric)")
    if title:
        fig.suptitle(title)
    return fig


def plot_feature_space(
    labels: Any,
    features: Any,
    *,
    x: int = 0,
    y: int = 1,
    names: Sequence[str] = ("speed", "complexity"),
    max_points: int = 20_000,
    seed: int = 0,
) -> Figure:
    """Neurons as points in two feature dimensions, coloured by emergent layer (random subsample)."""
    lab, feat = _labels_features(labels, features)
    if not (0 <= x < feat.shape[1] and 0 <= y < feat.shape[1]):
        raise ValueError(f"x and y must be feature columns in 0..{feat.shape[1] - 1}")
    idx = np.arange(lab.size)
    if lab.size > max_points:
        idx = np.random.default_rng(seed).choice(lab.size, max_points, replace=False)
    fig = _new_figure((6.0, 5.0))
    ax = fig.add_subplot()
    sc = ax.scatter(feat[idx, x], feat[idx, y], c=lab[idx], cmap="tab10", s=4, vmin=0, vmax=9)
    ax.set_xlabel(_with_unit(names[0] if len(names) > 0 else f"feature {x}"))
    ax.set_ylabel(_with_unit(names[1] if len(names) > 1 else f"feature {y}"))
    ax.set_title(
        f"{lab.size:,} neurons by emergent layer" + (f" ({idx.size:,} shown)" if idx.size < lab.size else "")
    )
    fig.colorbar(sc, ax=ax, label="layer index (0 = L1)")
    return fig


def plot_null_comparison(real: Mapping[str, float], null: Mapping[str, Sequence[float]]) -> Figure:
    """One panel per statistic: the real value (red line) against the null values (points, mean ± sd)."""
    keys = [key for key in real if key in null]
    if not keys:
        raise ValueError("real and null must share at least one statistic name")
    fig = _new_figure((3.2 * len(keys), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    for ax, key in zip(axes, keys, strict=True):
        vals = np.asarray(null[key], dtype=float)
        ax.plot(np.zeros(vals.size), vals, "o", color="gray", alpha=0.6, label="null")
        if vals.size:
            ax.errorbar(
                [0.3], [vals.mean()], yerr=[vals.std()], fmt="s", color="black", label="null mean ± sd"
            )
        ax.axhline(real[key], color="tab:red", label="real")
        ax.set_xticks([0.0, 0.3], ["null runs", "mean ± sd"], fontsize=8)
        ax.set_xlim(-0.25, 0.55)
        ax.set_title(key.replace("/", "/\n") if len(key) > 22 else key, fontsize=10)  # no overlap
    axes[0].set_ylabel("statistic value (dimensionless)")
    axes[0].legend(fontsize=7)
    fig.suptitle("real graph vs null models")
    return fig
