"""Sweep recipe "L4 under failures" (issue 16, experiment 4): schedulers × failure rates × workload sizes.

One trial (:func:`l4_sweep_run`) builds the seeded units and workload of the tactical recipe
(:func:`hal9.experiments.tactical.build_units`, :func:`~hal9.experiments.tactical.make_workload`), injects
failures with what :mod:`hal9.tactical` offers, runs the contract-net simulation
(:class:`hal9.tactical.TacticalSimulation`) with one scheduler, and reports completion rate, makespan,
deadline-miss rate, fairness and lost tasks.

How units fail (:attr:`L4FailureConfig.failure_mode`):

* ``"attempt"`` — :attr:`hal9.tactical.SimulationConfig.failure_rate`: every task attempt fails on its unit
  with probability ``failure_rate``, part-way through; the unit reports FAIL and L4 re-plans the task (up to
  ``max_retries`` times, then the task fails with a reason).
* ``"crash"`` — :meth:`hal9.tactical.TacticalSimulation.fail_unit`: each unit crashes, independently with
  probability ``failure_rate``, once at a time drawn uniformly over the workload's arrival span; every
  attempt on it is lost, L4 notices ``detection_delay`` (1 time unit) later, re-plans the orphans, and the
  unit is back ``repair_time`` after that (``None``: never). Draws use their own generator seeded by
  ``(seed, 1)``, so they do not shift the simulator's draws.

**Hard check.** A task is *lost* when it was accepted but is neither completed nor reported failed: after
the run it is not ``COMPLETED`` and not ``FAILED``/``CANCELLED`` with a reason code, or its goal was never
reported to L5 (no ``GOAL_DONE`` / ``GOAL_REJECTED`` message), or it is missing from the result
(:func:`count_lost_tasks`). :func:`check_no_task_lost` raises :class:`TaskLostError` when any is, so the
sweep marks the trial failed; a finished trial reports ``tasks_lost = 0``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hal9.tactical import Scheduler

if TYPE_CHECKING:
    from hal9.experiments.sweep.recipes import TrialContext, TrialOutput
    from hal9.tactical import Goal, SimulationResult, TacticalSimulation, Unit

__all__ = [
    "L4FailureConfig",
    "TaskLostError",
    "check_no_task_lost",
    "count_lost_tasks",
    "l4_sweep_default",
    "l4_sweep_run",
]


class L4FailureConfig(BaseModel):
    """One trial of "L4 under failures".

    Attributes
    ----------
    scheduler : Scheduler
        One of :data:`hal9.tactical.SCHEDULERS`.
    failure_rate : float
        In ``[0, 0.3]``: P(an attempt fails) (``"attempt"``) or P(a unit crashes) (``"crash"``).
    failure_mode : {"attempt", "crash"}
        How units fail (module docstring).
    goals, tasks_per_goal : int
        Workload size: ``goals`` goals of ``tasks_per_goal`` tasks (layered DAGs,
        :func:`hal9.tactical.random_workload`).
    units : int
        L3 units (:func:`hal9.tactical.random_units`).
    load : float
        Offered load / estimated capacity (:func:`hal9.experiments.tactical.arrival_rate`).
    max_retries : int
        Re-plans of one task before it fails.
    repair_time : float or None
        Time units from the detection of a crash until the unit is back (``None``: never).
    seed : int
        Seeds units, workload, simulation and the crash draws.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheduler: Scheduler = "auto"
    failure_rate: float = Field(0.1, ge=0, le=0.3, allow_inf_nan=False)
    failure_mode: Literal["attempt", "crash"] = "attempt"
    goals: int = Field(20, ge=1, le=100_000)
    tasks_per_goal: int = Field(10, ge=1, le=1_000)
    units: int = Field(10, ge=1, le=100_000)
    load: float = Field(0.9, gt=0, le=100, allow_inf_nan=False)
    max_retries: int = Field(3, ge=0, le=1_000)
    repair_time: float | None = Field(5.0, ge=0, allow_inf_nan=False)
    seed: int = Field(0, ge=0)


class TaskLostError(RuntimeError):
    """Tasks were accepted but neither completed nor reported failed (see :func:`count_lost_tasks`)."""


def _lost_mask(result: SimulationResult) -> np.ndarray:
    """``(n_tasks,)`` bool: task not accounted for (module docstring)."""
    from hal9.tactical import MessageType, TaskState

    state, reason = np.asarray(result.state), np.asarray(result.reason_code)
    completed = state == TaskState.COMPLETED
    reported_end = ((state == TaskState.FAILED) | (state == TaskState.CANCELLED)) & (reason != 0)
    types = result.messages.column("type")
    told = (types == int(MessageType.GOAL_DONE)) | (types == int(MessageType.GOAL_REJECTED))
    goal_told = np.zeros(len(result.goal_ids), dtype=bool)
    goal_told[result.messages.column("correlation")[told]] = True
    task_goal = np.asarray(result.task_goal, dtype=np.int64)
    return ~((completed | reported_end) & goal_told[task_goal])


def count_lost_tasks(result: SimulationResult, submitted: int) -> int:
    """Tasks accepted but neither completed nor reported failed.

    ``lost = max(submitted − n, 0) + #{i : ¬((completed_i ∨ ended_with_reason_i) ∧ goal_reported_i)}``,
    with ``n`` the tasks in ``result``, ``ended_with_reason`` = ``FAILED``/``CANCELLED`` with a non-zero
    reason code, and ``goal_reported`` = a ``GOAL_DONE`` or ``GOAL_REJECTED`` message to L5 about the task's
    goal. Independent of the simulator's own :attr:`~hal9.tactical.SimulationResult.lost` (which counts
    only non-terminal tasks).

    Parameters
    ----------
    result : SimulationResult
        A finished run.
    submitted : int
        Tasks submitted (``Σ len(goal.plan())``).
    """
    if submitted < 0:
        raise ValueError(f"submitted must be >= 0, got {submitted}")
    return max(submitted - len(result.task_ids), 0) + int(_lost_mask(result).sum())


def check_no_task_lost(result: SimulationResult, submitted: int) -> int:
    """The hard check: ``0``, or :class:`TaskLostError` naming (up to five of) the lost tasks.

    Also raises when the simulation did not finish (events left) or holds more tasks than ``submitted``.
    """
    if not result.finished:
        raise TaskLostError(f"the simulation stopped with events left at t = {result.now}: tasks are open")
    if len(result.task_ids) > submitted:
        raise TaskLostError(f"the result holds {len(result.task_ids)} tasks but {submitted} were submitted")
    lost = count_lost_tasks(result, submitted)
    if lost:
        from hal9.tactical import TaskState

        idx = np.flatnonzero(_lost_mask(result))[:5].tolist()
        shown = ", ".join(f"{result.task_ids[i]} ({TaskState(int(result.state[i])).name})" for i in idx)
        missing = submitted - len(result.task_ids)
        raise TaskLostError(
            f"{lost} of {submitted} tasks lost (accepted, neither completed nor reported failed): {shown}"
            + (f"; {missing} missing from the result" if missing else "")
        )
    return 0


def _inject_crashes(
    sim: TacticalSimulation, units: list[Unit], goals: list[Goal], cfg: L4FailureConfig
) -> int:
    """Crash each unit with probability ``failure_rate`` at a uniform time in ``[0, last arrival]``."""
    rng = np.random.default_rng([cfg.seed, 1])
    crash = rng.random(len(units)) < cfg.failure_rate
    horizon = max((g.arrival for g in goals), default=0.0)
    at = rng.uniform(0.0, horizon, len(units)) if horizon > 0 else np.zeros(len(units))
    for j in np.flatnonzero(crash).tolist():
        sim.fail_unit(units[j].id, float(at[j]))
    return int(crash.sum())


def l4_sweep_default() -> dict[str, Any]:
    """The default trial: 20 goals × 10 tasks on 10 units, 10 % attempt failures, as JSON."""
    return L4FailureConfig().model_dump(mode="json")


def l4_sweep_run(config: L4FailureConfig, context: TrialContext) -> TrialOutput:
    """One trial: one scheduler, one failure rate, one workload size, one seed; fails if a task is lost.

    Scheduling runs on the CPU whatever ``context.device`` is (per-round problems of tens of tasks; the CPU
    path is the deterministic one).

    Metrics
    -------
    ``completion_rate`` (completed / tasks), ``makespan`` (time units, first arrival → last task end),
    ``deadline_miss_rate`` (tasks with a deadline not completed by it; failed and cancelled count as
    misses), ``jain_fairness.unit_utilization`` (Jain's index ``(Σx)²/(n·Σx²)`` over the units' busy
    fractions of the makespan — fairness of the *units' load*, not of the goals' slowdowns), ``tasks_lost``
    (always 0 in a finished trial: a loss raises :class:`TaskLostError`), ``tasks``, ``tasks_completed``,
    ``tasks_failed``, ``tasks_cancelled``, ``attempts``, ``attempts_lost`` (attempts ended by a failure or
    crash), ``units_crashed`` (``"crash"`` mode; 0 otherwise), ``throughput``, ``utilization_mean``,
    ``latency_mean`` / ``latency_p95`` (when a task completed), ``messages``, ``seconds`` (wall clock of
    submit + run).
    """
    from hal9.experiments.tactical import TacticalRunConfig, build_units, make_workload
    from hal9.tactical import SimulationConfig, TacticalSimulation

    c = config
    attempt_rate = c.failure_rate if c.failure_mode == "attempt" else 0.0
    run_cfg = TacticalRunConfig(
        tasks=c.goals * c.tasks_per_goal,
        units=c.units,
        tasks_per_goal=c.tasks_per_goal,
        load=c.load,
        failure_rate=attempt_rate,
        schedulers=(c.scheduler,),
        seed=c.seed,
    )
    units, _ = build_units(run_cfg)
    goals = make_workload(units, run_cfg)
    sim = TacticalSimulation(
        units,
        SimulationConfig(
            scheduler=c.scheduler,
            failure_rate=attempt_rate,
            max_retries=c.max_retries,
            repair_time=c.repair_time,
            seed=c.seed,
        ),
    )
    t0 = time.perf_counter()
    for g in goals:
        sim.submit(g)
    crashed = _inject_crashes(sim, units, goals, c) if c.failure_mode == "crash" else 0
    res = sim.run()
    seconds = time.perf_counter() - t0
    submitted = sum(len(g.plan()) for g in goals)
    lost = check_no_task_lost(res, submitted)
    m = res.metrics
    metrics: dict[str, float] = {
        "completion_rate": m["tasks_completed"] / submitted,
        "makespan": m["makespan"],
        "deadline_miss_rate": m["deadline_miss_rate"],
        "jain_fairness.unit_utilization": m["jain_fairness"],
        "tasks_lost": float(lost),
        "tasks": float(submitted),
        **{k: m[k] for k in ("tasks_completed", "tasks_failed", "tasks_cancelled", "attempts")},
        "attempts_lost": m["attempts_lost"],
        "units_crashed": float(crashed),
        **{k: m[k] for k in ("throughput", "utilization_mean", "latency_mean", "latency_p95", "messages")},
        "seconds": seconds,
    }
    return {"metrics": {k: float(v) for k, v in metrics.items() if np.isfinite(v)}, "artifacts": {}}
