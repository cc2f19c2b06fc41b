"""Priority preemption: which running attempts L4 revokes so that a higher-priority task can start now.

Rule (when :attr:`SimulationConfig.preemption` is on): after a scheduling round, every ready task that is
still waiting although **no** trusted unit has room for it may take a unit from strictly lower-priority
work. Such tasks are examined in priority order (highest first; ties in the round's preference order). For
each trusted unit whose *capacity* can hold the task, the victims on that unit are its running attempts of
strictly lower priority, taken in the order (priority ascending, elapsed time ascending) until the unit's
free capacity plus the victims' demand covers the task's demand on every resource. The unit chosen
minimises ``duration_ij + Σ_victims elapsed`` — the task's expected duration there plus the work the victims
lose, both in time units (ties: fewer victims, then the lower unit index); victims the task does not need
after all (multi-resource demands) are then dropped again, most valuable first. At most one decision per
unit is made per round (the next round may preempt again). The task is awarded there at once; the victims
are cancelled (``CANCEL`` L4 → L3), lose their progress (no checkpointing) and go back to ``READY`` without
spending a retry.

Only strictly lower priorities are revoked, so preemption cannot cycle: each preemption moves capacity to
a strictly higher priority. A stream of high-priority work can starve lower priorities — that is the
intended trade-off of preemptive priority scheduling (see e.g. Silberschatz, Galvin & Gagne, *Operating
System Concepts*, the chapter on CPU scheduling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Preemption", "plan_preemptions"]

_EPS = 1e-9


@dataclass(frozen=True)
class Preemption:
    """One decision: start ``task`` on ``unit`` after revoking the running attempts of ``victims``."""

    task: int
    unit: int
    victims: tuple[int, ...]


def _covers(have: NDArray, need: NDArray) -> NDArray:
    """``have[..., r] ≥ need[r]`` on every resource, with a relative/absolute tolerance; ``(...,)`` bool."""
    return np.all(have >= need * (1 - _EPS) - _EPS, axis=-1)


def plan_preemptions(
    waiting: NDArray,
    demand: NDArray,
    priority: NDArray,
    free: NDArray,
    capacity: NDArray,
    trusted: NDArray,
    run_task: NDArray,
    run_unit: NDArray,
    run_elapsed: NDArray,
    duration: Callable[[int], NDArray] | None = None,
) -> list[Preemption]:
    """Preemptions for the ``waiting`` tasks (in that order of preference); see the module docstring.

    Parameters
    ----------
    waiting : (W,) int
        Ready tasks still waiting after the round, in the order they may preempt (highest priority first).
    demand : (T, R) float
        Demand of every task on every resource (indexed by task id).
    priority : (T,) float
        Priority of every task (higher runs first).
    free, capacity : (U, R) float
        Free and total capacity per unit.
    trusted : (U,) bool
        Units L4 may award to (known alive, not suspected).
    run_task, run_unit, run_elapsed : (M,)
        Running attempts: task id, unit, time since the award.
    duration : callable, optional
        ``duration(i)`` → ``(U,)`` expected duration of task ``i`` on every unit (time units); omitted,
        only the lost work counts.

    Returns
    -------
    list of Preemption
        At most one per waiting task and one per unit; no attempt is revoked twice and each decision
        accounts for the capacity the earlier ones used.

    Notes
    -----
    The running attempts are sorted once by (unit, priority, elapsed); each examined task then costs a few
    vectorised passes over them (segmented prefix sums per unit): ``O(M log M + E·M·R)`` for ``E`` examined
    tasks, ``E ≤ W``. Tasks that fit some unit's free capacity, or outrank no revocable attempt, are skipped.
    """
    free = np.array(free, dtype=np.float64)
    m = run_task.size
    out: list[Preemption] = []
    if m == 0 or waiting.size == 0 or not trusted.any():
        return out
    run_prio = priority[run_task]
    order = np.lexsort((run_task, run_elapsed, run_prio, run_unit))
    task_s, unit_s, prio_s, lost_s = run_task[order], run_unit[order], run_prio[order], run_elapsed[order]
    dem_s = demand[task_s]
    starts = np.r_[0, np.flatnonzero(np.diff(unit_s)) + 1]
    seg = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, m]))
    pos = np.arange(m)
    revocable = trusted[unit_s].copy()
    for i in _candidates(waiting, demand, priority, free, capacity, trusted, unit_s, prio_s, dem_s).tolist():
        if not revocable.any():
            break
        p, d = priority[i], demand[i]
        elig = revocable & (prio_s < p) & _covers(capacity[unit_s], d)
        if not elig.any() or _covers(free[trusted], d).any():
            continue
        # segmented prefix sums over each unit's eligible attempts (in victim order)
        cols = np.column_stack([dem_s * elig[:, None], lost_s * elig, elig.astype(np.float64)])
        cum = np.cumsum(cols, axis=0)
        cum -= (cum - cols)[starts][seg]
        ok = elig & _covers(free[unit_s] + cum[:, :-2], d)
        if not ok.any():
            continue
        at = np.flatnonzero(ok)
        first = at[np.r_[True, seg[at[1:]] != seg[at[:-1]]]]  # fewest victims per unit
        units = unit_s[first]
        cost = cum[first, -2] + (duration(i)[units] if duration is not None else 0.0)
        k = first[np.lexsort((units, cum[first, -1], cost))[0]]
        j = int(unit_s[k])
        victims = np.flatnonzero(elig & (seg == seg[k]) & (pos <= k))
        # drop, from the most valuable end, victims whose demand the task does not need after all
        have = free[j] + dem_s[victims].sum(axis=0)
        keep = np.ones(victims.size, dtype=bool)
        for v in range(victims.size - 1, -1, -1):
            if _covers(have - dem_s[victims[v]], d):
                have = have - dem_s[victims[v]]
                keep[v] = False
        victims = victims[keep]
        revocable[unit_s == j] = False  # one decision per unit per round
        free[j] = have - d
        out.append(Preemption(task=i, unit=j, victims=tuple(task_s[victims].tolist())))
    return out


def _candidates(
    waiting: NDArray,
    demand: NDArray,
    priority: NDArray,
    free: NDArray,
    capacity: NDArray,
    trusted: NDArray,
    unit_s: NDArray,
    prio_s: NDArray,
    dem_s: NDArray,
) -> NDArray:
    """Waiting tasks (in order) that fit no trusted unit's free capacity but would fit one after revoking
    every lower-priority attempt on it — a necessary condition, checked for all tasks at once.

    ``gain_l = free + Σ demand of the attempts with priority < level_l`` is built per unit for the distinct
    priority levels of the waiting tasks, in blocks of levels and of tasks, so every temporary holds at most
    ~2²⁰ values whatever the number of levels, units or tasks.
    """
    n_units, n_res = free.shape
    keep = trusted[unit_s]
    a_prio, a_unit, a_dem = prio_s[keep], unit_s[keep], dem_s[keep]
    if a_prio.size == 0:
        return waiting[:0]
    wprio = priority[waiting]
    sel = wprio > a_prio.min()
    if not sel.any():
        return waiting[:0]
    levels = np.unique(wprio[sel])
    wlev = np.searchsorted(levels, wprio)  # the level of each selected task
    bucket = np.searchsorted(levels, a_prio, side="right")  # attempt counts for levels >= bucket
    units = np.flatnonzero(trusted)
    cap = capacity[units][None]
    block = max(1, (1 << 20) // max(n_units * n_res, 1))
    rows = max(1, (1 << 20) // max(units.size * n_res, 1))
    ok = np.zeros(waiting.size, dtype=bool)
    acc = np.array(free, dtype=np.float64)
    for l0 in range(0, levels.size, block):
        l1 = min(levels.size, l0 + block)
        table = np.zeros((l1 - l0, n_units, n_res))
        inb = (bucket >= l0) & (bucket < l1)
        np.add.at(table, (bucket[inb] - l0, a_unit[inb]), a_dem[inb])
        gain = acc[None] + np.cumsum(table, axis=0)
        acc = gain[-1]
        mine = np.flatnonzero(sel & (wlev >= l0) & (wlev < l1))
        for r0 in range(0, mine.size, rows):
            t = mine[r0 : r0 + rows]
            d = demand[waiting[t]][:, None, :]
            fits_now = _covers(free[units][None], d).any(axis=1)
            could = (_covers(gain[wlev[t] - l0][:, units], d) & _covers(cap, d)).any(axis=1)
            ok[t] = could & ~fits_now
    return waiting[ok]
