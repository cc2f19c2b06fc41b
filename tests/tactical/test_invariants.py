"""No task is ever lost: under random failures, timeouts and workloads every task ends with a reason."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal9.tactical import Goal, SimulationConfig, TacticalSimulation, TaskState, Unit
from hal9.tactical.workload import random_units, random_workload


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_tasks=st.integers(1, 60),
    n_units=st.integers(1, 5),
    scheduler=st.sampled_from(["auto", "auction", "hungarian", "greedy", "edf", "round_robin"]),
    failure_rate=st.sampled_from([0.0, 0.1, 0.4, 0.9]),
    crash_rate=st.sampled_from([0.0, 0.05, 0.5]),
    ack_loss_rate=st.sampled_from([0.0, 0.2, 0.7]),
    repair_time=st.sampled_from([None, 0.0, 3.0]),
    max_retries=st.integers(0, 3),
    deadlines=st.booleans(),
    max_queued=st.sampled_from([None, 10]),
    preemption=st.booleans(),
    explicit_failures=st.lists(st.tuples(st.integers(0, 4), st.floats(0, 30)), max_size=3),
    seed=st.integers(0, 2**16),
)
def test_no_task_is_lost(
    n_tasks: int,
    n_units: int,
    scheduler: str,
    failure_rate: float,
    crash_rate: float,
    ack_loss_rate: float,
    repair_time: float | None,
    max_retries: int,
    deadlines: bool,
    max_queued: int | None,
    preemption: bool,
    explicit_failures: list[tuple[int, float]],
    seed: int,
) -> None:
    units: list[Unit] = random_units(n_units, seed=seed)
    goals: list[Goal] = random_workload(
        n_tasks, tasks_per_goal=5, arrival_rate=2.0, deadline_slack=1.5 if deadlines else None, seed=seed
    )
    cfg = SimulationConfig(
        scheduler=scheduler,  # type: ignore[arg-type]
        failure_rate=failure_rate,
        crash_rate=crash_rate,
        ack_loss_rate=ack_loss_rate,
        repair_time=repair_time,
        max_retries=max_retries,
        cancel_impossible_deadlines=deadlines,
        max_queued_tasks=max_queued,
        preemption=preemption and scheduler != "round_robin",
        seed=seed,
    )
    sim = TacticalSimulation(units, cfg)
    for g in goals:
        sim.submit(g)
    for u, at in explicit_failures:
        sim.fail_unit(units[u % n_units].id, at=at)
    res = sim.run()
    assert res.finished
    assert res.lost == 0
    assert np.all(res.state >= TaskState.COMPLETED)
    c = res.counts()
    assert c["completed"] + c["failed"] + c["cancelled"] == n_tasks
    for i, t in enumerate(res.task_ids):
        has_reason = res.reason(t) is not None
        assert has_reason == (res.state[i] != TaskState.COMPLETED)
    # every attempt is closed, completed ones exactly once per completed task
    assert np.all(res.attempt_outcome > 0)
    assert np.sum(res.attempt_outcome == 1) == c["completed"]
    assert np.all(np.abs(res.messages.column("sender_layer") - res.messages.column("receiver_layer")) <= 1)
    # L4 never books more demand on a unit than its capacity (preempted attempts are released first)
    for j in range(n_units):
        on = np.flatnonzero(res.attempt_unit == j)
        for a in on:
            live = on[
                (res.attempt_start[on] <= res.attempt_start[a]) & (res.attempt_end[on] > res.attempt_start[a])
            ]
            assert np.all(res.demand[res.attempt_task[live]].sum(0) <= res.capacity[j] * (1 + 1e-9) + 1e-9)
    # a preempted task was always tried again later
    for a in np.flatnonzero(res.attempt_outcome == 3):
        later = (res.attempt_task == res.attempt_task[a]) & (res.attempt_start >= res.attempt_end[a])
        assert later.any() or res.state[res.attempt_task[a]] == TaskState.CANCELLED
