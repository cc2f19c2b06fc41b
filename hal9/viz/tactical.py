"""Figures for :mod:`hal9.tactical`: Gantt chart, cooperation graph, utilisation, scheduler comparison."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from hal9.viz.hierarchy import _new_figure

if TYPE_CHECKING:
    from hal9.tactical.results import SimulationResult

__all__ = ["plot_cooperation", "plot_gantt", "plot_scheduler_comparison", "plot_utilisation"]


def _busiest_units(res: SimulationResult, max_units: int) -> np.ndarray:
    busy = np.bincount(
        res.attempt_unit, weights=res.attempt_end - res.attempt_start, minlength=len(res.unit_ids)
    )
    return np.sort(np.argsort(-busy, kind="stable")[:max_units])


def _lanes(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, int]:
    """Interval-graph colouring of one unit's attempts (sorted by start): lane per attempt and lane count."""
    lane_end: list[float] = []
    lanes = np.zeros(start.size, np.int64)
    for a, (s, e) in enumerate(zip(start.tolist(), end.tolist(), strict=True)):
        lane = next((k for k, le in enumerate(lane_end) if le <= s + 1e-12), len(lane_end))
        if lane == len(lane_end):
            lane_end.append(e)
        else:
            lane_end[lane] = e
        lanes[a] = lane
    return lanes, max(len(lane_end), 1)


def plot_gantt(res: SimulationResult, *, max_units: int = 30, title: str | None = None) -> Figure:
    """Units × time: one bar per attempt, coloured by goal; lost attempts (failure, crash, timeout) with a
    red outline, preempted ones with a grey outline.

    Shows the ``max_units`` busiest units (all when fewer). Concurrent attempts on one unit are stacked
    inside its row in lanes of equal height (as many lanes as the unit's maximum concurrency).
    """
    units = _busiest_units(res, max_units)
    fig = _new_figure((11.0, 0.28 * len(units) + 1.5))
    ax = fig.subplots()
    colours = np.array([f"C{k % 10}" for k in range(10)])
    edge = {2: "red", 3: "grey"}
    for r, j in enumerate(units):
        idx = np.flatnonzero(res.attempt_unit == j)
        idx = idx[np.argsort(res.attempt_start[idx], kind="stable")]
        lanes, depth = _lanes(res.attempt_start[idx], res.attempt_end[idx])
        for a, lane in zip(idx.tolist(), lanes.tolist(), strict=True):
            s, e = res.attempt_start[a], res.attempt_end[a]
            outcome = int(res.attempt_outcome[a])
            ax.broken_barh(
                [(s, max(e - s, 1e-9))],
                (r - 0.4 + 0.8 * lane / depth, 0.8 / depth),
                facecolors="none" if outcome in edge else colours[res.task_goal[res.attempt_task[a]] % 10],
                edgecolors=edge.get(outcome, "none"),
            )
    ax.set_yticks(np.arange(len(units)), [res.unit_ids[j] for j in units], fontsize=7)
    ax.set_xlabel("time")
    ax.set_ylim(-0.6, len(units) - 0.4)
    ax.set_title(
        title or f"Gantt chart ({res.scheduler}; colour = goal, red = lost, grey = preempted attempt)"
    )
    return fig


def cooperation_matrix(res: SimulationResult) -> np.ndarray:
    """``C[i, j]`` = number of goals on which units ``i`` and ``j`` both completed a task; ``(U, U)``, zero
    diagonal."""
    done = res.attempt_outcome == 1
    g = res.task_goal[res.attempt_task[done]]
    u = res.attempt_unit[done]
    pairs = np.unique(np.stack([g, u]), axis=1) if g.size else np.zeros((2, 0), np.int64)
    n_units = len(res.unit_ids)
    inc = np.zeros((len(res.goal_ids), n_units))
    inc[pairs[0], pairs[1]] = 1.0
    c = inc.T @ inc
    np.fill_diagonal(c, 0.0)
    return c


def plot_cooperation(res: SimulationResult, *, max_units: int = 40, title: str | None = None) -> Figure:
    """Cooperation graph: units on a circle, an edge where two units worked on the same goal (width and
    opacity ∝ number of shared goals); node size ∝ completed tasks."""
    units = _busiest_units(res, max_units)
    c = cooperation_matrix(res)[np.ix_(units, units)]
    done = np.bincount(res.attempt_unit[res.attempt_outcome == 1], minlength=len(res.unit_ids))[units]
    angle = 2 * np.pi * np.arange(len(units)) / max(len(units), 1)
    x, y = np.cos(angle), np.sin(angle)
    fig = _new_figure((6.5, 6.5))
    ax = fig.subplots()
    top = c.max() if c.size and c.max() > 0 else 1.0
    for i, j in zip(*np.nonzero(np.triu(c)), strict=True):
        w = c[i, j] / top
        ax.plot([x[i], x[j]], [y[i], y[j]], color="tab:blue", alpha=0.1 + 0.6 * w, lw=0.5 + 2.5 * w)
    ax.scatter(x, y, s=20 + 180 * done / max(done.max(), 1), color="tab:orange", zorder=3)
    for k, j in enumerate(units):
        ax.annotate(res.unit_ids[j], (1.1 * x[k], 1.1 * y[k]), ha="center", va="center", fontsize=6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"cooperation graph ({res.scheduler}; edge = shared goals)")
    return fig


def utilisation_series(res: SimulationResult, bins: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, busy_fraction, resource_fraction)``: at ``bins`` time points, the fraction of units running at
    least one attempt and the mean used fraction of total capacity over resources."""
    t0 = float(res.goal_arrival.min()) if res.goal_arrival.size else 0.0
    t1 = float(res.attempt_end.max()) if res.attempt_end.size else t0 + 1.0
    t = np.linspace(t0, t1, bins)
    if not res.attempt_start.size:
        return t, np.zeros(bins), np.zeros(bins)
    # Sweep over attempt starts (+) and ends (−); ends first at equal times (half-open intervals).
    n = res.attempt_start.size
    times = np.concatenate([res.attempt_end, res.attempt_start])
    sign = np.concatenate([-np.ones(n), np.ones(n)])
    unit = np.concatenate([res.attempt_unit, res.attempt_unit])
    demand = res.demand[res.attempt_task]
    order = np.lexsort((sign, times))
    times, sign, unit = times[order], sign[order], unit[order]
    used = np.cumsum(np.concatenate([-demand, demand])[order], axis=0) / res.capacity.sum(axis=0)
    count = np.zeros(len(res.unit_ids), np.int64)
    busy_units = np.empty(2 * n)
    on = 0
    for k, (u, s) in enumerate(zip(unit.tolist(), sign.tolist(), strict=True)):
        before = count[u]
        count[u] += int(s)
        on += int(before == 0 and count[u] > 0) - int(before > 0 and count[u] == 0)
        busy_units[k] = on
    at = np.searchsorted(times, t, side="right") - 1
    valid = at >= 0
    busy = np.where(valid, busy_units[np.maximum(at, 0)], 0.0) / len(res.unit_ids)
    frac = np.where(valid, used[np.maximum(at, 0)].mean(axis=1), 0.0)
    return t, busy, frac


def plot_utilisation(res: SimulationResult, *, bins: int = 200, title: str | None = None) -> Figure:
    """Utilisation over time: fraction of busy units and of used capacity."""
    t, busy, used = utilisation_series(res, bins)
    fig = _new_figure((9.0, 3.5))
    ax = fig.subplots()
    ax.step(t, busy, where="post", label="units busy")
    ax.step(t, used, where="post", label="capacity used (mean over resources)")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time")
    ax.set_ylabel("fraction")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or f"utilisation over time ({res.scheduler})")
    return fig


def plot_scheduler_comparison(
    metrics: Mapping[str, Mapping[str, float]],
    keys: tuple[str, ...] = (
        "makespan",
        "latency_mean",
        "latency_p95",
        "deadline_miss_rate",
        "jain_fairness",
    ),
) -> Figure:
    """One bar panel per metric, one bar per scheduler (``metrics[scheduler][key]``)."""
    names = list(metrics)
    if not names:
        raise ValueError("metrics must hold at least one scheduler")
    fig = _new_figure((3.0 * len(keys), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    for ax, key in zip(axes, keys, strict=True):
        raw = [metrics[n].get(key) for n in names]
        vals = [np.nan if x is None else float(x) for x in raw]
        ax.bar(np.arange(len(names)), vals, color=[f"C{k}" for k in range(len(names))])
        ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(key, fontsize=9)
    return fig
