"""Priority preemption: hand-computed timelines, victim choice, no cycles, bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from hal9.tactical import Goal, MessageType, SimulationConfig, TacticalSimulation, Task, TaskState, Unit
from hal9.tactical.preemption import plan_preemptions
from hal9.tactical.workload import random_units, random_workload

SCHEDULERS = ["auto", "auction", "hungarian", "greedy", "edf"]


def _run(units: list[Unit], goals: list[Goal], **cfg: object):  # type: ignore[no-untyped-def]
    sim = TacticalSimulation(units, SimulationConfig(round_interval=0, **cfg))  # type: ignore[arg-type]
    for g in goals:
        sim.submit(g)
    return sim.run()


def _two_goals() -> list[Goal]:
    return [
        Goal(id="low", priority=1, tasks=(Task(id="a", work=4),)),
        Goal(id="high", priority=5, arrival=1.0, tasks=(Task(id="b", work=1),)),
    ]


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_high_priority_preempts_on_one_unit(scheduler: str) -> None:
    res = _run([Unit(id="u")], _two_goals(), scheduler=scheduler, preemption=True)
    end = dict(zip(res.task_ids, res.end.tolist(), strict=True))
    # b arrives at 1, revokes a (1 time unit of progress lost), runs 1..2; a restarts at 2 and ends at 6
    assert end["b"] == pytest.approx(2.0)
    assert end["a"] == pytest.approx(6.0)
    assert res.metrics["attempts_preempted"] == 1.0
    assert res.metrics["attempts_lost"] == 0.0
    a = res.task_ids.index("a")
    preempted = np.flatnonzero(res.attempt_outcome == 3)
    assert res.attempt_task[preempted].tolist() == [a]
    assert res.attempt_end[preempted].tolist() == [pytest.approx(1.0)]
    # one CANCEL (L4 → L3) for the revoked attempt; the victim spent no retry and completed
    assert res.messages.counts()["CANCEL"] == 1
    assert res.state[a] == TaskState.COMPLETED
    assert res.metrics["tasks_completed"] == 2


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_without_preemption_high_priority_waits(scheduler: str) -> None:
    res = _run([Unit(id="u")], _two_goals(), scheduler=scheduler)
    end = dict(zip(res.task_ids, res.end.tolist(), strict=True))
    assert end["a"] == pytest.approx(4.0) and end["b"] == pytest.approx(5.0)
    assert res.metrics["attempts_preempted"] == 0.0


def test_equal_priority_never_preempts() -> None:
    goals = [
        Goal(id="g1", priority=3, tasks=(Task(id="a", work=4),)),
        Goal(id="g2", priority=3, arrival=1.0, tasks=(Task(id="b", work=1),)),
    ]
    res = _run([Unit(id="u")], goals, preemption=True)
    assert res.metrics["attempts_preempted"] == 0.0
    assert res.end[res.task_ids.index("b")] == pytest.approx(5.0)


def test_a_task_that_fits_elsewhere_preempts_nothing() -> None:
    res = _run([Unit(id="u"), Unit(id="v")], _two_goals(), preemption=True)
    assert res.metrics["attempts_preempted"] == 0.0
    assert res.end[res.task_ids.index("b")] == pytest.approx(2.0)


def test_victims_lose_the_least_work() -> None:
    # two units each run a low task; the one started later (less progress) is revoked
    goals = [
        Goal(id="l1", priority=1, tasks=(Task(id="a", work=10),)),
        Goal(id="l2", priority=1, arrival=2.0, tasks=(Task(id="c", work=10),)),
        Goal(id="high", priority=5, arrival=3.0, tasks=(Task(id="b", work=1),)),
    ]
    res = _run([Unit(id="u"), Unit(id="v")], goals, preemption=True)
    victim = res.attempt_task[res.attempt_outcome == 3]
    assert [res.task_ids[i] for i in victim] == ["c"]


def test_plan_covers_multi_resource_demand_with_fewest_victims() -> None:
    # unit 0: free (0, 0), runs tasks 1 (1, 0) and 2 (1, 2), both priority 0; task 0 needs (1, 2), priority 9
    demand = np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 2.0]])
    priority = np.array([9.0, 0.0, 0.0])
    plan = plan_preemptions(
        waiting=np.array([0]),
        demand=demand,
        priority=priority,
        free=np.zeros((1, 2)),
        capacity=np.array([[2.0, 2.0]]),
        trusted=np.array([True]),
        run_task=np.array([1, 2]),
        run_unit=np.array([0, 0]),
        run_elapsed=np.array([0.5, 1.0]),
    )
    # in victim order task 1 (less elapsed) comes first, but it frees nothing of resource 2 and task 2
    # alone covers the need: task 1 is dropped again
    assert len(plan) == 1 and plan[0].unit == 0 and plan[0].victims == (2,)
    # an untrusted unit or a capacity that cannot hold the task yields no plan
    for trusted, cap in (([False], [[2.0, 2.0]]), ([True], [[2.0, 1.0]])):
        assert not plan_preemptions(
            np.array([0]),
            demand,
            priority,
            np.zeros((1, 2)),
            np.array(cap),
            np.array(trusted),
            np.array([1, 2]),
            np.array([0, 0]),
            np.array([0.5, 1.0]),
        )


def test_preemption_keeps_capacity_and_priority_latency() -> None:
    units = random_units(4, seed=5)
    goals = random_workload(300, tasks_per_goal=3, arrival_rate=6.0, deadline_slack=None, seed=5)
    base = _run(units, goals, scheduler="auto", seed=5)
    pre = _run(units, goals, scheduler="auto", seed=5, preemption=True)
    assert pre.lost == 0 and pre.metrics["attempts_preempted"] > 0
    # never more demand on a unit than its capacity
    for j in range(len(pre.unit_ids)):
        on = np.flatnonzero(pre.attempt_unit == j)
        for a in on:
            t = pre.attempt_start[a]
            live = on[(pre.attempt_start[on] <= t) & (pre.attempt_end[on] > t)]
            assert np.all(pre.demand[pre.attempt_task[live]].sum(0) <= pre.capacity[j] * (1 + 1e-9) + 1e-9)
    prio = np.array([g.priority for g in goals])
    top = prio[pre.task_goal] == prio.max()
    lat_pre = (pre.end - pre.goal_arrival[pre.task_goal])[top].mean()
    lat_base = (base.end - base.goal_arrival[base.task_goal])[top].mean()
    assert lat_pre < lat_base  # the top priority waits less when it may preempt
    assert np.all(np.abs(pre.messages.column("sender_layer") - pre.messages.column("receiver_layer")) <= 1)
    cancels = pre.messages.column("type") == MessageType.CANCEL
    assert cancels.sum() >= pre.metrics["attempts_preempted"]


def test_preemption_is_deterministic() -> None:
    units = random_units(3, seed=1)
    goals = random_workload(80, tasks_per_goal=4, arrival_rate=4.0, seed=1)
    r1 = _run(units, goals, preemption=True, failure_rate=0.1, crash_rate=0.05, seed=9)
    r2 = _run(units, goals, preemption=True, failure_rate=0.1, crash_rate=0.05, seed=9)
    assert np.array_equal(r1.attempt_outcome, r2.attempt_outcome)
    assert np.array_equal(r1.end, r2.end, equal_nan=True)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_highest_waiting_priority_preempts_first_whatever_the_scheduler(scheduler: str) -> None:
    # edf orders waiting tasks by deadline; preemption still goes by priority,
    # so the priority-5 task takes the unit at once and nothing is revoked after zero elapsed time
    goals = [
        Goal(id="low", priority=1, tasks=(Task(id="a", work=4),)),
        Goal(id="mid", priority=3, arrival=1.0, deadline=2.0, tasks=(Task(id="m", work=1),)),
        Goal(id="high", priority=5, arrival=1.0, tasks=(Task(id="b", work=1),)),
    ]
    res = _run([Unit(id="u")], goals, scheduler=scheduler, preemption=True)
    assert res.metrics["attempts_preempted"] == 1.0
    assert res.messages.counts()["CANCEL"] == 1
    assert res.end[res.task_ids.index("b")] == pytest.approx(2.0)


def test_revoking_an_attempt_lost_to_an_undetected_crash_counts_as_a_loss() -> None:
    goals = [
        Goal(id="low", priority=1, tasks=(Task(id="a", work=4),)),
        Goal(id="high", priority=5, arrival=1.0, tasks=(Task(id="b", work=1),)),
    ]
    sim = TacticalSimulation(
        [Unit(id="u")],
        SimulationConfig(round_interval=0, preemption=True, detection_delay=5.0, max_retries=1),
    )
    for g in goals:
        sim.submit(g)
    sim.fail_unit("u", at=0.5)
    res = sim.run()
    a = res.task_ids.index("a")
    # a's attempt died with the unit at 0.5: revoking it at 1.0 records a loss (not a preemption)
    assert res.metrics["attempts_preempted"] == 0.0
    assert res.attempt_outcome[res.attempt_task == a][0] == 2
    assert res.lost == 0


def test_one_decision_per_unit_per_round() -> None:
    # two waiting high-priority tasks, two units of which only unit 0 runs revocable work
    plan = plan_preemptions(
        waiting=np.array([0, 1]),
        demand=np.ones((5, 1)),
        priority=np.array([9.0, 9.0, 0.0, 0.0, 10.0]),
        free=np.zeros((2, 1)),
        capacity=np.array([[2.0], [1.0]]),
        trusted=np.array([True, True]),
        run_task=np.array([2, 3, 4]),
        run_unit=np.array([0, 0, 1]),
        run_elapsed=np.array([1.0, 2.0, 1.0]),
    )
    assert [(p.task, p.unit, p.victims) for p in plan] == [(0, 0, (2,))]


def test_candidates_match_brute_force_and_stay_bounded_with_continuous_priorities() -> None:
    import tracemalloc

    from hal9.tactical.preemption import _candidates

    rng = np.random.default_rng(0)
    n_units, m, w = 1500, 6000, 3000
    demand = rng.uniform(0.1, 1.0, (m + w, 2))
    priority = rng.uniform(0, 10, m + w)  # continuous: every attempt its own level
    run_task = np.arange(m)
    run_unit = rng.integers(0, n_units, m)
    capacity = np.full((n_units, 2), 3.0)
    free = rng.uniform(0, 0.3, (n_units, 2))
    trusted = rng.random(n_units) < 0.9
    waiting = np.arange(m, m + w)
    order = np.lexsort((run_task, run_unit))
    tracemalloc.start()
    got = _candidates(
        waiting, demand, priority, free, capacity, trusted, run_unit[order], priority[order], demand[order]
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20  # a dense (levels, units, resources) table would need ~140 MB here
    want = []
    for i in waiting[:400].tolist():
        d = demand[i]
        if np.all(free[trusted] >= d * (1 - 1e-9) - 1e-9, axis=1).any():
            continue
        lower = trusted[run_unit] & (priority[run_task] < priority[i])
        gain = (
            free
            + np.array(
                [np.bincount(run_unit[lower], demand[run_task][lower, r], n_units) for r in range(2)]
            ).T
        )
        if (trusted & np.all(gain >= d * (1 - 1e-9) - 1e-9, axis=1)).any():
            want.append(i)
    assert got[got < m + 400].tolist() == want and len(want) > 10


def test_round_robin_with_preemption_is_rejected() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="round_robin"):
        SimulationConfig(scheduler="round_robin", preemption=True)
