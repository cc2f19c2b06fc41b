"""Figures for :mod:`hal9.tactical`: Gantt chart, cooperation graph, utilisation, scheduler comparison.

Times are in the simulation's time unit (the unit of ``work / speed``; ``time_unit=`` names it on the axes,
default ``"time unit"``); rates are per that unit; fractions are shown in percent.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hal9.core import module_aliases
from hal9.viz._common import _new_figure

if TYPE_CHECKING:
    from hal9.tactical.results import SimulationResult

__all__ = [
    "COMPARISON_KEYS",
    "metric_label",
    "plot_cooperation",
    "plot_gantt",
    "plot_scheduler_comparison",
    "plot_utilization",
]


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


def plot_gantt(
    res: SimulationResult, *, max_units: int = 30, title: str | None = None, time_unit: str = "time unit"
) -> Figure:
    """Units × time: one bar per attempt, coloured by goal; lost attempts (failure, crash, timeout) with a
    red outline, preempted ones with a grey outline.

    Shows the ``max_units`` busiest units (all when fewer). Concurrent attempts on one unit are stacked
    inside its row in lanes of equal height (as many lanes as the unit's maximum concurrency). The x axis
    is simulation time in ``time_unit``.
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
    ax.set_xlabel(f"time ({time_unit})")
    n_all = len(res.unit_ids)
    ax.set_ylabel("unit" if len(units) == n_all else f"unit ({len(units)} busiest of {n_all})")
    ax.set_ylim(-0.6, len(units) - 0.4)
    ax.set_title(
        title
        or f"Gantt chart ({res.scheduler})\ncolour = goal; outline: red = lost, grey = preempted attempt",
        fontsize=10,
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
    ax.text(
        0.5,
        -0.02,
        f"node area ∝ completed tasks (max {int(done.max()) if done.size else 0}); "
        f"edge width ∝ shared goals (max {int(top) if c.size and c.max() > 0 else 0})",
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=8,
    )
    return fig


def utilization_series(res: SimulationResult, bins: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def plot_utilization(
    res: SimulationResult,
    *,
    bins: int = 200,
    title: str | None = None,
    max_units: int = 30,
    time_unit: str = "time unit",
) -> Figure:
    """Utilisation over time (left) and per unit (right), in percent.

    Left: at ``bins`` times (:func:`utilization_series`), the percentage of units running at least one
    attempt and of total capacity in use (mean over resources). Right: each unit's busy time (union of its
    attempt intervals) as a percentage of the makespan, ``100 · res.unit_utilization()``, for the
    ``max_units`` busiest units, with the mean over all units (the ``utilization_mean`` metric) dashed.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: utilisation over time, per-unit utilisation bars.
    """
    t, busy, used = utilization_series(res, bins)
    units = _busiest_units(res, max_units)
    per_unit = 100.0 * np.asarray(res.unit_utilization(), dtype=float)
    fig = _new_figure((12.0, max(3.6, 0.2 * len(units) + 1.6)))
    ax, ax_units = fig.subplots(1, 2, width_ratios=(2.2, 1.0))
    ax.step(t, 100.0 * busy, where="post", label="units busy")
    ax.step(t, 100.0 * used, where="post", label="capacity used (mean over resources)")
    ax.set_ylim(0, 105)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("utilisation (%)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or f"utilisation over time ({res.scheduler})", fontsize=10)
    ys = np.arange(len(units))
    ax_units.barh(ys, per_unit[units], color="tab:blue")
    ax_units.axvline(per_unit.mean(), color="black", ls="--", lw=1, label=f"mean {per_unit.mean():.1f} %")
    ax_units.set_yticks(ys, [res.unit_ids[j] for j in units], fontsize=7)
    ax_units.set_xlim(0, 105)
    ax_units.set_xlabel("busy time (% of makespan)")
    n_all = len(res.unit_ids)
    ax_units.set_ylabel("unit" if len(units) == n_all else f"unit ({len(units)} busiest of {n_all})")
    ax_units.legend(loc="lower right", fontsize=8)
    ax_units.set_title("utilisation per unit", fontsize=10)
    return fig


#: Panel title, unit (``{t}`` = the time unit) and display factor of the known scheduler metrics.
_METRICS: dict[str, tuple[str, str, float]] = {
    "makespan": ("makespan", "{t}", 1.0),
    "throughput": ("throughput", "completed tasks / {t}", 1.0),
    "latency_mean": ("mean task latency", "{t}", 1.0),
    "latency_p95": ("P95 task latency", "{t}", 1.0),
    "deadline_miss_rate": ("deadline misses", "% of tasks with deadline", 100.0),
    "utilization_mean": ("unit utilisation (mean)", "% of makespan", 100.0),
    "resource_utilization_mean": ("resource utilisation (mean)", "% of capacity", 100.0),
    "jain_fairness": ("Jain fairness of unit load", "index (1 = even load)", 1.0),
    "messages": ("messages", "count", 1.0),
    "tasks": ("tasks", "count", 1.0),
    "attempts": ("attempts", "count", 1.0),
    "attempts_lost": ("lost attempts", "count", 1.0),
    "attempts_preempted": ("preempted attempts", "count", 1.0),
}
_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("latency_mean_priority_", "mean latency, priority {rest}", "{t}"),
    ("tasks_", "tasks {rest}", "count"),
    ("messages_", "{rest} messages", "count"),
)
#: Default panels of :func:`plot_scheduler_comparison`.
COMPARISON_KEYS: tuple[str, ...] = (
    "makespan",
    "throughput",
    "latency_mean",
    "latency_p95",
    "deadline_miss_rate",
    "utilization_mean",
    "resource_utilization_mean",
    "jain_fairness",
)


def metric_label(key: str, time_unit: str = "time unit") -> tuple[str, str, float]:
    """``(title, unit, factor)`` of a metric of :attr:`SimulationResult.metrics`; shown value = factor · raw.

    Unknown keys get their name as title, ``"value"`` as unit and factor 1.

    Examples
    --------
    >>> metric_label("deadline_miss_rate")
    ('deadline misses', '% of tasks with deadline', 100.0)
    >>> metric_label("throughput", "s")
    ('throughput', 'completed tasks / s', 1.0)
    """
    if key in _METRICS:
        title, unit, factor = _METRICS[key]
    else:
        title, unit, factor = key.replace("_", " "), "value", 1.0
        for prefix, fmt, prefix_unit in _PREFIXES:
            if key.startswith(prefix):
                title, unit = fmt.format(rest=key[len(prefix) :]), prefix_unit
                break
    return title, unit.format(t=time_unit), factor


def _comparison_values(
    metrics: Mapping[str, Mapping[str, float | None]], names: list[str], key: str
) -> np.ndarray:
    out = np.full(len(names), np.nan)
    for k, name in enumerate(names):
        row = metrics[name]
        if not isinstance(row, Mapping):
            raise ValueError(f"metrics[{name!r}] must be a mapping of metric name to value; got {type(row)}")
        x = row.get(key)
        if x is None:
            continue
        if isinstance(x, bool) or not isinstance(x, Real):
            raise ValueError(f"metrics[{name!r}][{key!r}] must be a real number or None; got {x!r}")
        out[k] = float(x)
    return out


def _bar_panel(ax: Axes, names: list[str], values: np.ndarray, title: str, unit: str) -> None:
    """One metric: a bar per scheduler, each labelled with its value ("n/a" when missing)."""
    finite = np.isfinite(values)
    x = np.arange(len(names))
    bars = ax.bar(x, np.where(finite, values, 0.0), color=[f"C{k % 10}" for k in range(len(names))])
    ax.bar_label(
        bars,
        labels=[f"{v:.3g}" if ok else "n/a" for v, ok in zip(values, finite, strict=True)],
        fontsize=7,
        padding=2,
    )
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_title(textwrap.fill(title, 28), fontsize=10)
    ax.set_ylabel(textwrap.fill(unit, 30), fontsize=9)
    top = float(np.nanmax(np.abs(values))) if finite.any() else 0.0
    if not finite.any():
        ax.text(0.5, 0.5, "no finite value", transform=ax.transAxes, ha="center", va="center", fontsize=8)
    if not np.any(values[finite] < 0):
        ax.set_ylim(0.0, 1.18 * top if top > 0 else 1.0)  # room for the value labels
    else:
        ax.margins(y=0.18)


def plot_scheduler_comparison(
    metrics: Mapping[str, Mapping[str, float | None]],
    keys: Sequence[str] = COMPARISON_KEYS,
    *,
    ncols: int = 4,
    time_unit: str = "time unit",
    title: str | None = "scheduler comparison",
) -> Figure:
    """One bar panel per metric, one bar per scheduler, each bar labelled with its value.

    Panels are laid out ``ncols`` per row; the grid cells left over in the last row are removed, so every
    axes of the figure shows a metric. Each panel is titled with a short metric name and its y axis carries
    the unit (:func:`metric_label`): times in ``time_unit``, throughput in completed tasks per
    ``time_unit``, the deadline-miss rate and the unit / resource utilisations in percent, Jain's fairness
    as an index in ``[1/n, 1]``. A missing or ``None`` value is a zero-height bar labelled "n/a".

    Parameters
    ----------
    metrics : Mapping[str, Mapping[str, float or None]]
        ``metrics[scheduler][key]``, e.g. ``{name: result.metrics}`` or the ``"metrics"`` of
        :meth:`SimulationResult.summary` (non-finite values as ``None``).
    keys : sequence of str, default :data:`COMPARISON_KEYS`
        Metrics to show, one panel each: makespan, throughput, mean and P95 latency, deadline-miss rate,
        mean unit utilisation, mean resource utilisation, Jain fairness.
    ncols : int, default 4
        Panels per row (at most ``len(keys)``).
    time_unit : str, default "time unit"
        Name of the simulation time unit on the axes (e.g. ``"s"`` when work / speed is in seconds).
    title : str or None, default "scheduler comparison"
        Figure title; ``None`` for none.

    Returns
    -------
    matplotlib.figure.Figure
        Exactly ``len(keys)`` axes, in the order of ``keys``.

    Raises
    ------
    ValueError
        If ``metrics`` or ``keys`` is empty, ``ncols < 1``, or a value is neither a real number nor ``None``
        (the message names ``metrics[scheduler][key]``).

    Examples
    --------
    >>> fig = plot_scheduler_comparison({"a": {"makespan": 10.0}, "b": {"makespan": 12.5}}, ["makespan"])
    >>> [(ax.get_title(), ax.get_ylabel()) for ax in fig.axes]
    [('makespan', 'time unit')]
    """
    names = list(metrics)
    if not names:
        raise ValueError("metrics must hold at least one scheduler")
    keys = [str(k) for k in keys] if not isinstance(keys, str) else [keys]
    if not keys:
        raise ValueError("keys must name at least one metric")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int; got {ncols!r}")
    values = [_comparison_values(metrics, names, key) for key in keys]
    cols = min(ncols, len(keys))
    rows = -(-len(keys) // cols)
    fig = _new_figure((max(3.0 * cols, 4.0), 3.1 * rows + (0.4 if title else 0.0)))
    grid = fig.subplots(rows, cols, squeeze=False)
    for ax, key, vals in zip(grid.flat, keys, values, strict=False):
        name, unit, factor = metric_label(key, time_unit)
        _bar_panel(ax, names, factor * vals, name, unit)
    for ax in grid.flat[len(keys) :]:
        ax.remove()  # no empty panels
    if title:
        fig.suptitle(title)
    return fig


#: Old (British) spellings served with a ``DeprecationWarning`` until hal9 0.2.0.
__getattr__ = module_aliases(
    globals(), {"plot_utilisation": "plot_utilization", "utilisation_series": "utilization_series"}
)
