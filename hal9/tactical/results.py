"""Outcome of a tactical simulation and its metrics.

Metrics (times in simulation time units):

* ``makespan`` — last task end − first goal arrival;
* task ``latency`` — completion time − arrival of its goal (completed tasks): mean and P95, and the mean per
  priority level (``latency_mean_priority_<p>``, when tasks have 2 to 16 distinct priorities);
* ``deadline_miss_rate`` — among tasks with a deadline, the fraction not completed by it (cancelled and failed
  tasks count as misses);
* unit ``utilization`` — time a unit holds at least one awarded attempt (union of its attempt intervals,
  from the award to completion, failure, timeout or L4's detection of a crash) / makespan;
  ``resource_utilization`` — Σ attempt time × demand / (Σ capacity × makespan), averaged over resources;
* ``jain_fairness`` — Jain's index ``(Σx)² / (n·Σx²)`` of unit utilisations (1 = perfectly even load,
  ``1/n`` = one unit does everything; Jain, Chiu & Hawe 1984);
* messages exchanged, in total and per type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from hal9.core import RenamedKeys, warn_renamed
from hal9.tactical.messages import MessageLog
from hal9.tactical.tables import TaskState

if TYPE_CHECKING:
    from hal9.tactical.simulation import TacticalSimulation

__all__ = ["SimulationResult", "TaskState", "jain_index"]

_REASONS = {
    1: "retries exhausted (unit failures or unacknowledged awards)",
    2: "dependency {cause} failed",
    3: "dependency {cause} cancelled",
    4: "deadline impossible even on the fastest live unit",
    5: "no live unit",
    6: "demand exceeds the capacity of every live unit",
    7: "goal rejected by admission control (queue full)",
}


#: Per-priority latency metrics are reported up to this many distinct priority levels.
_MAX_PRIORITY_LEVELS = 16


def jain_index(x: NDArray) -> float:
    """Jain's fairness index ``(Σx)² / (n·Σx²)`` of non-negative ``x``; 1.0 for an all-zero or empty ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.any(x):
        return 1.0
    if np.any(x < 0):
        raise ValueError("jain_index needs non-negative values")
    return float(x.sum() ** 2 / (x.size * np.square(x).sum()))


def _union_busy(unit: NDArray, start: NDArray, end: NDArray, n_units: int) -> NDArray:
    """Per unit, the length of the union of its ``[start, end)`` intervals; ``(n_units,)``."""
    busy = np.zeros(n_units)
    order = np.lexsort((start, unit))
    u, s, e = unit[order], start[order], end[order]
    bounds = np.flatnonzero(np.diff(u)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, u.size], strict=True):
        if hi <= lo:
            continue
        reach = np.maximum.accumulate(e[lo:hi])
        prev = np.r_[-np.inf, reach[:-1]]
        busy[u[lo]] = np.clip(e[lo:hi] - np.maximum(s[lo:hi], prev), 0, None).sum()
    return busy


#: Metric keys renamed to American spelling; the old keys are readable, with a warning, until hal9 0.2.0.
_RENAMED_METRICS = {
    "utilisation_mean": "utilization_mean",
    "resource_utilisation_mean": "resource_utilization_mean",
}


@dataclass
class SimulationResult:
    """Snapshot of a :class:`~hal9.tactical.simulation.TacticalSimulation`.

    Shape
    -----
    task arrays ``(n_tasks,)`` in submission order (``state`` of :class:`TaskState`, ``reason`` codes,
    ``end`` time of becoming terminal); attempt arrays ``(n_attempts,)`` (``attempt_outcome``: 0 running,
    1 completed, 2 lost, 3 preempted); ``metrics`` a flat ``dict[str, float]``.
    """

    task_ids: list[str]
    task_goal: NDArray
    task_priority: NDArray
    state: NDArray
    reason_code: NDArray
    cause: NDArray
    end: NDArray
    deadline: NDArray
    demand: NDArray
    goal_ids: list[str]
    goal_arrival: NDArray
    attempt_task: NDArray
    attempt_unit: NDArray
    attempt_start: NDArray
    attempt_end: NDArray
    attempt_outcome: NDArray
    unit_ids: list[str]
    capacity: NDArray
    messages: MessageLog
    finished: bool
    now: float
    scheduler: str
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, sim: TacticalSimulation) -> SimulationResult:
        tk, un = sim.tasks, sim.units
        n, a = tk.n, tk.n_attempts
        res = cls(
            task_ids=list(tk.ids),
            task_goal=tk.goal[:n].copy(),
            task_priority=tk.priority[:n].copy(),
            state=tk.state[:n].copy(),
            reason_code=tk.reason[:n].copy(),
            cause=tk.cause[:n].copy(),
            end=tk.end[:n].copy(),
            deadline=tk.deadline[:n].copy(),
            demand=tk.demand[:n].copy(),
            goal_ids=[g.id for g in sim.goals],
            goal_arrival=tk.goal_arrival.copy(),
            attempt_task=tk.a_task[:a].copy(),
            attempt_unit=tk.a_unit[:a].copy(),
            attempt_start=tk.a_start[:a].copy(),
            attempt_end=np.where(np.isnan(tk.a_end[:a]), sim.now, tk.a_end[:a]),
            attempt_outcome=tk.a_outcome[:a].copy(),
            unit_ids=list(un.ids),
            capacity=un.capacity.copy(),
            messages=sim.messages.copy(),
            finished=sim.pending_events == 0,
            now=sim.now,
            scheduler=sim.config.scheduler,
        )
        res.metrics = RenamedKeys(res._metrics(), _RENAMED_METRICS)
        return res

    # ----------------------------------------------------------------- queries
    @property
    def lost(self) -> int:
        """Tasks not terminal although the simulation has finished (must be 0)."""
        return int(np.sum(self.state < TaskState.COMPLETED)) if self.finished else 0

    def counts(self) -> dict[str, int]:
        """Tasks per outcome: ``completed``, ``failed``, ``cancelled``, ``open`` (not terminal), ``lost``."""
        return {
            "completed": int(np.sum(self.state == TaskState.COMPLETED)),
            "failed": int(np.sum(self.state == TaskState.FAILED)),
            "cancelled": int(np.sum(self.state == TaskState.CANCELLED)),
            "open": int(np.sum(self.state < TaskState.COMPLETED)),
            "lost": self.lost,
        }

    def reason(self, task_id: str) -> str | None:
        """Why task ``task_id`` failed or was cancelled (``None`` if it completed or is not terminal)."""
        i = self.task_ids.index(task_id)
        code = int(self.reason_code[i])
        if code == 0:
            return None
        cause = self.task_ids[int(self.cause[i])] if self.cause[i] >= 0 else "?"
        return _REASONS[code].format(cause=repr(cause))

    # ----------------------------------------------------------------- metrics
    def _metrics(self) -> dict[str, float]:
        done = self.state == TaskState.COMPLETED
        terminal = self.state >= TaskState.COMPLETED
        t0 = float(self.goal_arrival.min()) if self.goal_arrival.size else 0.0
        t1 = float(np.nanmax(self.end[terminal])) if terminal.any() else t0
        if not self.finished:
            t1 = max(t1, self.now)  # a snapshot: attempts still running count up to now
        makespan = max(t1 - t0, 0.0)
        latency = self.end[done] - self.goal_arrival[self.task_goal[done]]
        has_dl = np.isfinite(self.deadline)
        met = done & (self.end <= self.deadline + 1e-9)
        dur = self.attempt_end - self.attempt_start
        util = (
            _union_busy(self.attempt_unit, self.attempt_start, self.attempt_end, len(self.unit_ids))
            / makespan
            if makespan > 0
            else np.zeros(len(self.unit_ids))
        )
        demand = (
            self.demand[self.attempt_task] if self.attempt_task.size else np.zeros_like(self.capacity[:0])
        )
        used = (dur[:, None] * demand).sum(axis=0)
        res_util = used / np.maximum(self.capacity.sum(axis=0) * makespan, 1e-300)
        counts = self.counts()
        out: dict[str, float] = {
            "tasks": float(self.state.size),
            **{f"tasks_{k}": float(v) for k, v in counts.items()},
            "attempts": float(self.attempt_task.size),
            "attempts_lost": float(np.sum(self.attempt_outcome == 2)),
            "attempts_preempted": float(np.sum(self.attempt_outcome == 3)),
            "makespan": makespan,
            "throughput": counts["completed"] / makespan if makespan > 0 else 0.0,
            "latency_mean": float(latency.mean()) if latency.size else float("nan"),
            "latency_p95": float(np.percentile(latency, 95)) if latency.size else float("nan"),
            "deadline_miss_rate": float(1 - met[has_dl].mean()) if has_dl.any() else 0.0,
            "utilization_mean": float(util.mean()),
            "resource_utilization_mean": float(res_util.mean()) if makespan > 0 else 0.0,
            "jain_fairness": jain_index(util),
            "messages": float(len(self.messages)),
        }
        levels = np.unique(self.task_priority)
        if 1 < levels.size <= _MAX_PRIORITY_LEVELS:
            prio = self.task_priority[done]
            for level in levels.tolist():
                lat = latency[prio == level]
                name = str(int(level)) if float(level).is_integer() else repr(float(level))
                out[f"latency_mean_priority_{name}"] = float(lat.mean()) if lat.size else float("nan")
        out.update({f"messages_{k.lower()}": float(v) for k, v in self.messages.counts().items()})
        return out

    def unit_utilisation(self) -> NDArray:
        """Deprecated spelling of :meth:`unit_utilization` (until hal9 0.2.0)."""
        warn_renamed("unit_utilisation", "unit_utilization", what="method")
        return self.unit_utilization()

    def unit_utilization(self) -> NDArray:
        """Per unit busy fraction of the makespan, ``(n_units,)``."""
        m = self.metrics["makespan"]
        busy = _union_busy(self.attempt_unit, self.attempt_start, self.attempt_end, len(self.unit_ids))
        return busy / m if m > 0 else busy

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: scheduler, counts of completed / failed / cancelled / lost tasks, metrics."""
        clean = {k: (v if np.isfinite(v) else None) for k, v in self.metrics.items()}
        return {
            "scheduler": self.scheduler,
            "finished": self.finished,
            "counts": self.counts(),
            "metrics": clean,
        }
