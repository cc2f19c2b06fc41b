"""Column storage of the simulation: tasks, attempts and goals (growable NumPy arrays), and units.

One row per task (index = submission order), one per attempt (an award of a task to a unit), one per goal.
Keeping them as arrays makes a round's candidate selection and the metrics vectorised; only the dependency
lists and the per-unit running sets are Python containers.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from hal9.tactical.models import Goal, Unit

__all__ = ["TaskState", "TaskTable", "UnitTable"]


class TaskState(IntEnum):
    """Life cycle of a task; values ``>= COMPLETED`` are terminal."""

    NOT_ARRIVED = 0
    PENDING = 1  # arrived, waiting for dependencies
    READY = 2
    RUNNING = 3  # awarded (acknowledged or awaiting acknowledgement)
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6


class UnitTable:
    """The L3 units as arrays.

    Shape
    -----
    ``capability`` ``(U, D)``, ``speed`` ``(U,)``, ``capacity``/``free`` ``(U, R)`` (``R = 1``,
    an implicit slot per unit, when the units declare no capacity), ``alive``/``known_alive`` ``(U,)``
    (actual state, and what L4 believes), ``epoch`` ``(U,)`` crash counter.
    """

    def __init__(
        self, ids: list[str], capability: NDArray, speed: NDArray, capacity: NDArray, alive: NDArray
    ) -> None:
        self.ids = ids
        self.index = {u: j for j, u in enumerate(ids)}
        self.capability, self.speed, self.capacity = capability, speed, capacity
        self.implicit_slot = False
        self.free = capacity.copy()
        self.alive = alive.copy()
        self.known_alive = alive.copy()
        self.epoch = np.zeros(len(ids), np.int64)
        self.usable = alive.copy()  # False: permanently down (failed at the start, or never repaired)
        self.crash_pending = np.zeros(len(ids), dtype=bool)
        self.suspect_until = np.full(len(ids), -np.inf)
        self.running: list[set[int]] = [set() for _ in ids]

    @classmethod
    def from_units(cls, units: Sequence[Unit]) -> UnitTable:
        if not units:
            raise ValueError("units must not be empty")
        ids = [u.id for u in units]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"duplicate unit id {dup!r}")
        for field in ("capability", "capacity"):
            lengths = {len(getattr(u, field)) for u in units}
            if len(lengths) > 1:
                raise ValueError(
                    f"every unit's {field} must have the same length, got lengths {sorted(lengths)}"
                )
        cap = np.asarray([u.capacity for u in units], dtype=np.float64).reshape(len(units), -1)
        implicit = cap.shape[1] == 0
        if implicit:
            cap = np.ones((len(units), 1))
        table = cls(
            ids,
            np.asarray([u.capability for u in units], dtype=np.float64).reshape(len(units), -1),
            np.asarray([u.speed for u in units], dtype=np.float64),
            cap,
            np.asarray([u.status == "available" for u in units]),
        )
        table.implicit_slot = implicit
        return table

    def shortfall(self, required: NDArray, units: NDArray) -> NDArray:
        """Mean capability shortfall ``(1/D) Σ_k max(r_k − c_k, 0)`` of each task on its unit; ``(n,)``."""
        if required.shape[1] == 0:
            return np.zeros(required.shape[0])
        return np.clip(required - self.capability[units], 0, None).mean(axis=1)


class TaskTable:
    """Tasks, attempts and goals of one simulation (see module docstring)."""

    _TASK: ClassVar[dict[str, tuple[type, float]]] = {
        "goal": (np.int64, 0),
        "work": (np.float64, 0.0),
        "priority": (np.float64, 0.0),
        "deadline": (np.float64, np.inf),
        "remaining": (np.int64, 0),
        "state": (np.int8, TaskState.NOT_ARRIVED),
        "reason": (np.int8, 0),
        "cause": (np.int64, -1),
        "retries": (np.int64, 0),
        "attempt": (np.int64, -1),
        "unit": (np.int64, -1),
        "ready_time": (np.float64, np.nan),
        "end": (np.float64, np.nan),
        "placeable": (np.bool_, True),
    }
    _ATTEMPT: ClassVar[dict[str, type]] = {
        "a_task": np.int64,
        "a_unit": np.int64,
        "a_start": np.float64,
        "a_end": np.float64,
    }

    # Task columns (length >= n; rows n.. are spare capacity), created from _TASK in __init__.
    goal: NDArray
    work: NDArray
    priority: NDArray
    deadline: NDArray
    remaining: NDArray
    state: NDArray
    reason: NDArray
    cause: NDArray
    retries: NDArray
    attempt: NDArray
    unit: NDArray
    ready_time: NDArray
    end: NDArray
    placeable: NDArray
    # Attempt columns (length >= n_attempts).
    a_task: NDArray
    a_unit: NDArray
    a_start: NDArray
    a_end: NDArray

    def __init__(self, dims: int, resources: int) -> None:
        self.dims, self.resources = dims, resources
        self.n = 0
        self.n_attempts = 0
        self.n_terminal = 0
        self.n_queued = 0
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.children: list[list[int]] = []
        self._goal_slices: list[tuple[int, int]] = []
        for name, (dt, fill) in self._TASK.items():
            setattr(self, name, np.full(0, fill, dtype=dt))
        self.required = np.zeros((0, dims))
        self.demand = np.zeros((0, resources))
        for name, dt in self._ATTEMPT.items():
            setattr(self, name, np.zeros(0, dtype=dt))
        self.a_outcome = np.zeros(0, np.int8)  # 0 running, 1 completed, 2 lost, 3 preempted
        self.goal_weight = np.zeros(0)
        self.goal_arrival = np.zeros(0)
        self.goal_open = np.zeros(0, np.int64)
        self.goal_end = np.zeros(0)
        self.goal_alloc = np.zeros((0, resources))

    # ----------------------------------------------------------------- growth
    @staticmethod
    def _grow(arr: NDArray, n: int, fill: float) -> NDArray:
        if arr.shape[0] >= n:
            return arr
        new = np.full((max(n, 2 * arr.shape[0]), *arr.shape[1:]), fill, dtype=arr.dtype)
        new[: arr.shape[0]] = arr
        return new

    def _reserve_tasks(self, n: int) -> None:
        for name, (_, fill) in self._TASK.items():
            setattr(self, name, self._grow(getattr(self, name), n, fill))
        self.required = self._grow(self.required, n, 0.0)
        self.demand = self._grow(self.demand, n, 0.0)

    def add_goal(self, goal: Goal, g: int, units: UnitTable, *, arrival: float | None = None) -> None:
        """Append goal ``g``'s tasks (validated against the units; all-or-nothing). ``arrival``: the
        effective arrival time (default ``goal.arrival``)."""
        plan = goal.plan()
        local = {t.id: k for k, t in enumerate(plan)}
        for t in plan:
            if t.id in self.index:
                raise ValueError(f"duplicate task id {t.id!r} (already submitted with another goal)")
        req = self._vectors(plan, "capability", self.dims, 0.0, "unit capability")
        dem = self._vectors(
            plan, "demand", self.resources, 1.0 if units.implicit_slot else 0.0, "unit capacity"
        )
        if units.implicit_slot and any(t.demand for t in plan):
            raise ValueError("tasks declare a demand but the units declare no capacity")
        fits = self._fits_some(dem, units.capacity)
        if not fits.all():
            t = plan[int(np.flatnonzero(~fits)[0])]
            raise ValueError(
                f"task {t.id!r} demand {list(t.demand)} exceeds every unit's capacity "
                f"(largest per resource: {units.capacity.max(axis=0).tolist()})"
            )
        start, n_new = self.n, len(plan)
        self._reserve_tasks(start + n_new)
        s = slice(start, start + n_new)
        self.goal[s] = g
        self.work[s] = [t.work for t in plan]
        self.priority[s] = [t.priority for t in plan]
        self.deadline[s] = [np.inf if t.deadline is None else t.deadline for t in plan]
        self.remaining[s] = [len(t.dependencies) for t in plan]
        self.required[s] = req
        self.demand[s] = dem
        self.placeable[s] = self._fits_some(dem, units.capacity[units.usable])
        for k, t in enumerate(plan):
            self.ids.append(t.id)
            self.index[t.id] = start + k
            self.children.append([])
        for k, t in enumerate(plan):
            for d in t.dependencies:
                self.children[start + local[d]].append(start + k)
        self.n += n_new
        self._goal_slices.append((start, start + n_new))
        self.goal_weight = np.append(self.goal_weight, goal.priority)
        self.goal_arrival = np.append(self.goal_arrival, goal.arrival if arrival is None else arrival)
        self.goal_open = np.append(self.goal_open, n_new)
        self.goal_end = np.append(self.goal_end, np.nan)
        self.goal_alloc = np.vstack([self.goal_alloc, np.zeros((1, self.resources))])

    @staticmethod
    def _fits_some(demand: NDArray, capacity: NDArray) -> NDArray:
        """Per task: its demand fits at least one of ``capacity``'s rows; ``(n,)`` bool, chunked."""
        out = np.zeros(demand.shape[0], dtype=bool)
        for lo in range(0, demand.shape[0], 4096):
            block = demand[lo : lo + 4096]
            fit = np.all(block[:, None, :] <= capacity[None, :, :] * (1 + 1e-9) + 1e-12, axis=2)
            out[lo : lo + 4096] = fit.any(axis=1)
        return out

    def update_placeable(self, units: UnitTable) -> None:
        """Recompute which tasks fit some unit that is not permanently down (after a unit is lost)."""
        self.placeable[: self.n] = self._fits_some(self.demand[: self.n], units.capacity[units.usable])

    @staticmethod
    def _vectors(plan: Sequence, field: str, dims: int, default: float, what: str) -> NDArray:
        out = np.full((len(plan), dims), default)
        for k, t in enumerate(plan):
            v = getattr(t, field)
            if v:
                if len(v) != dims:
                    raise ValueError(f"task {t.id!r} {field} has {len(v)} entries, the {what} has {dims}")
                out[k] = v
        return out

    def goal_tasks(self, g: int) -> NDArray:
        lo, hi = self._goal_slices[g]
        return np.arange(lo, hi)

    def goal_dominant_share(self, units: UnitTable) -> NDArray:
        """Per goal ``max_r allocated_r / total_capacity_r`` (Ghodsi et al. 2011, DRF); ``(G,)``."""
        total = np.maximum(units.capacity.sum(axis=0), 1e-12)
        if self.goal_alloc.shape[0] == 0:
            return np.zeros(0)
        return (self.goal_alloc / total).max(axis=1)

    # ----------------------------------------------------------------- attempts
    def start_attempt(self, i: int, j: int, now: float) -> int:
        a = self.n_attempts
        for name in ("a_task", "a_unit", "a_start", "a_end", "a_outcome"):
            setattr(self, name, self._grow(getattr(self, name), a + 1, 0))
        self.a_task[a], self.a_unit[a], self.a_start[a], self.a_end[a] = i, j, now, np.nan
        self.a_outcome[a] = 0
        self.n_attempts += 1
        self.state[i] = TaskState.RUNNING
        self.attempt[i] = a
        self.unit[i] = j
        return a

    def start_attempts(self, tasks: NDArray, units: NDArray, now: float) -> NDArray:
        """Vectorised :meth:`start_attempt` for distinct ``tasks`` on ``units``; returns the attempt ids."""
        a0, n = self.n_attempts, tasks.size
        for name in ("a_task", "a_unit", "a_start", "a_end", "a_outcome"):
            setattr(self, name, self._grow(getattr(self, name), a0 + n, 0))
        ids = np.arange(a0, a0 + n)
        self.a_task[ids], self.a_unit[ids], self.a_start[ids], self.a_end[ids] = tasks, units, now, np.nan
        self.a_outcome[ids] = 0
        self.n_attempts += n
        self.state[tasks] = TaskState.RUNNING
        self.attempt[tasks] = ids
        self.unit[tasks] = units
        return ids

    def attempt_start(self, a: int) -> float:
        return float(self.a_start[a])

    def end_attempt(self, a: int, now: float, *, completed: bool, preempted: bool = False) -> None:
        self.a_end[a] = now
        self.a_outcome[a] = 1 if completed else 3 if preempted else 2
