"""Task graphs: template expansion, validation (duplicates, unknown ids, cycles) and topological order.

Complexity: :func:`check_dag` is Kahn's algorithm, ``O(V + E)`` time and memory for ``V`` tasks and ``E``
dependency edges.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hal9.tactical.models import Task, TaskTemplate

__all__ = ["check_dag", "expand_template", "topological_order"]


def expand_template(goal_id: str, template: TaskTemplate) -> tuple[Task, ...]:
    """Expand ``template`` into tasks with ids ``"{goal_id}/{k}"``, ``k = 0 … n_tasks−1``.

    See :class:`~hal9.tactical.models.TaskTemplate` for the three shapes. Every task gets the template's
    ``work``, ``capability`` and ``demand``; priority and deadline come from the goal.
    """
    from hal9.tactical.models import Task

    n = template.n_tasks
    ids = [f"{goal_id}/{k}" for k in range(n)]
    deps: list[tuple[str, ...]]
    if template.kind == "chain" or (template.kind == "fork_join" and n < 3):
        deps = [()] + [(ids[k - 1],) for k in range(1, n)]
    elif template.kind == "fork_join":
        deps = [()] + [(ids[0],)] * (n - 2) + [tuple(ids[1 : n - 1])]
    else:
        w = template.width
        deps = [tuple(ids[(k // w - 1) * w : (k // w) * w]) if k >= w else () for k in range(n)]
    common = {"work": template.work, "capability": template.capability, "demand": template.demand}
    return tuple(Task(id=i, dependencies=d, **common) for i, d in zip(ids, deps, strict=True))


def topological_order(tasks: Sequence[Task]) -> list[int]:
    """Indices of ``tasks`` in a dependency-respecting order (Kahn's algorithm, ties by input order).

    Raises
    ------
    ValueError
        On a duplicate task id, a dependency on an unknown id, or a cycle (the message lists the cycle,
        e.g. ``a → b → c → a``).
    """
    index: dict[str, int] = {}
    for i, t in enumerate(tasks):
        if t.id in index:
            raise ValueError(f"duplicate task id {t.id!r}")
        index[t.id] = i
    indeg = [0] * len(tasks)
    children: list[list[int]] = [[] for _ in tasks]
    for i, t in enumerate(tasks):
        for d in t.dependencies:
            j = index.get(d)
            if j is None:
                raise ValueError(f"task {t.id!r} depends on unknown task id {d!r}")
            children[j].append(i)
            indeg[i] += 1
    queue = deque(i for i in range(len(tasks)) if indeg[i] == 0)
    order: list[int] = []
    while queue:
        j = queue.popleft()
        order.append(j)
        for i in children[j]:
            indeg[i] -= 1
            if indeg[i] == 0:
                queue.append(i)
    if len(order) < len(tasks):
        raise ValueError(f"task graph has a cycle: {_find_cycle(tasks, index, indeg)}")
    return order


def _find_cycle(tasks: Sequence[Task], index: dict[str, int], indeg: list[int]) -> str:
    """Walk unresolved dependencies from an unresolved task until a task repeats; format that cycle."""
    node = next(i for i, d in enumerate(indeg) if d > 0)
    seen: dict[int, int] = {}
    path: list[int] = []
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(index[d] for d in tasks[node].dependencies if indeg[index[d]] > 0)
    cycle = path[seen[node] :]
    # path follows "depends on" edges; print in execution direction (dependency → dependent).
    names = [tasks[i].id for i in reversed(cycle)]
    return " → ".join([*names, names[0]])


def check_dag(tasks: Sequence[Task]) -> None:
    """Validate a task graph (see :func:`topological_order`); returns ``None`` or raises ``ValueError``."""
    topological_order(tasks)
