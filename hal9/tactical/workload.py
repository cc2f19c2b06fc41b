"""Seeded synthetic workloads: goals with random layered task DAGs, and random units.

Used by the CLI, the benchmarks and the notebook; everything is drawn from one ``numpy`` generator, so a
seed fixes the workload bit for bit.
"""

from __future__ import annotations

import numpy as np

from hal9.tactical.models import Goal, Task, Unit

__all__ = ["random_units", "random_workload"]


def random_units(
    n_units: int, *, dims: int = 2, resources: int = 2, capacity: float = 4.0, seed: int = 0
) -> list[Unit]:
    """``n_units`` units: capability ``U[0, 1)^dims``, speed ``U[0.5, 2)``, capacity ``capacity·U[0.5, 1.5)``
    per resource."""
    if n_units < 1:
        raise ValueError(f"n_units must be >= 1, got {n_units}")
    rng = np.random.default_rng(seed)
    cap = rng.uniform(0.5, 1.5, (n_units, resources)) * capacity
    caps = rng.uniform(0, 1, (n_units, dims))
    speed = rng.uniform(0.5, 2.0, n_units)
    return [
        Unit(id=f"u{j}", capability=tuple(caps[j]), speed=float(speed[j]), capacity=tuple(cap[j]))
        for j in range(n_units)
    ]


def random_workload(
    n_tasks: int,
    *,
    tasks_per_goal: int = 10,
    dims: int = 2,
    resources: int = 2,
    arrival_rate: float = 1.0,
    deadline_slack: float | None = 3.0,
    mean_speed: float = 1.0,
    max_demand: float = 1.0,
    seed: int = 0,
) -> list[Goal]:
    """Goals totalling ``n_tasks`` tasks (``tasks_per_goal`` each, the last goal smaller).

    Per goal: Poisson arrivals at ``arrival_rate`` goals per time unit; priority ∈ {1, …, 5}; a layered DAG
    (stages of 1–3 tasks, each task depending on 1–2 tasks of the previous stage); work ``U[1, 10)``;
    capability ``U[0, 1)^dims``; demand ``max_demand·U[0.1, 1)`` per resource; deadline = arrival +
    ``deadline_slack`` × (critical-path work / ``mean_speed``) (no deadline when ``deadline_slack`` is None).
    """
    if n_tasks < 1 or tasks_per_goal < 1:
        raise ValueError(f"n_tasks and tasks_per_goal must be >= 1, got {n_tasks}, {tasks_per_goal}")
    if arrival_rate <= 0:
        raise ValueError(f"arrival_rate must be > 0, got {arrival_rate}")
    rng = np.random.default_rng(seed)
    n_goals = -(-n_tasks // tasks_per_goal)
    arrivals = np.cumsum(rng.exponential(1 / arrival_rate, n_goals))
    work = rng.uniform(1, 10, n_tasks)
    capability = rng.uniform(0, 1, (n_tasks, dims))
    demand = rng.uniform(0.1, 1, (n_tasks, resources)) * max_demand
    goals = []
    for g in range(n_goals):
        lo, hi = g * tasks_per_goal, min((g + 1) * tasks_per_goal, n_tasks)
        n = hi - lo
        stage = np.zeros(n, np.int64)
        s, k = 0, 0
        while k < n:
            w = int(rng.integers(1, 4))
            stage[k : k + w] = s
            k += w
            s += 1
        finish = np.zeros(n)
        dep_ids: list[tuple[str, ...]] = []
        for t in range(n):
            prev = np.flatnonzero(stage == stage[t] - 1)
            deps: np.ndarray | list[int] = (
                rng.choice(prev, size=min(len(prev), int(rng.integers(1, 3))), replace=False)
                if prev.size
                else []
            )
            finish[t] = work[lo + t] + (finish[deps].max() if len(deps) else 0.0)
            dep_ids.append(tuple(f"g{g}/t{d}" for d in sorted(deps)))
        deadline = (
            None
            if deadline_slack is None
            else float(arrivals[g] + deadline_slack * finish.max() / mean_speed)
        )
        priority = float(rng.integers(1, 6))
        # The generated values are valid by construction, so tasks skip field validation
        # (model_construct); the goal itself is validated, which checks the task graph.
        tasks = tuple(
            Task.model_construct(
                id=f"g{g}/t{t}",
                work=float(work[lo + t]),
                capability=tuple(capability[lo + t].tolist()),
                demand=tuple(demand[lo + t].tolist()),
                priority=priority,
                deadline=deadline,
                dependencies=dep_ids[t],
            )
            for t in range(n)
        )
        goals.append(
            Goal(id=f"g{g}", priority=priority, arrival=float(arrivals[g]), deadline=deadline, tasks=tasks)
        )
    return goals
