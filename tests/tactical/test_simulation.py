"""The contract-net simulation: hand-computed timelines, priorities, failures, timeouts, reasons, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from hal9.tactical import (
    Goal,
    MessageType,
    SimulationConfig,
    TacticalSimulation,
    Task,
    TaskState,
    TaskTemplate,
    Unit,
)
from hal9.tactical.workload import random_units, random_workload

SCHEDULERS = ["auto", "auction", "hungarian", "greedy", "edf", "round_robin"]


def _sim(units: list[Unit], goals: list[Goal], **cfg: object) -> TacticalSimulation:
    sim = TacticalSimulation(units, SimulationConfig(**cfg))  # type: ignore[arg-type]
    for g in goals:
        sim.submit(g)
    return sim


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_chain_on_one_unit_hand_computed(scheduler: str) -> None:
    goal = Goal(id="g", template=TaskTemplate(kind="chain", n_tasks=3, work=2.0))
    res = _sim([Unit(id="u", speed=2.0)], [goal], scheduler=scheduler, round_interval=0).run()
    np.testing.assert_allclose(res.end, [1.0, 2.0, 3.0])
    assert res.metrics["makespan"] == pytest.approx(3.0)
    assert res.metrics["latency_mean"] == pytest.approx(2.0)
    assert res.metrics["utilization_mean"] == pytest.approx(1.0)
    c = res.messages.counts()
    assert (c["GOAL"], c["AWARD"], c["ACK"], c["PROGRESS"], c["COMPLETE"], c["GOAL_DONE"]) == (
        1,
        3,
        3,
        3,
        3,
        1,
    )
    assert c["ANNOUNCE"] == 3 and c["BID"] == 3
    # progress is reported half-way through each task
    prog = res.messages.column("time")[res.messages.column("type") == MessageType.PROGRESS]
    np.testing.assert_allclose(np.sort(prog), [0.5, 1.5, 2.5])


@pytest.mark.parametrize("scheduler", ["auction", "hungarian", "greedy", "edf"])
def test_priority_decides_who_runs_first(scheduler: str) -> None:
    goals = [
        Goal(id="low", priority=1, tasks=(Task(id="a", work=1),)),
        Goal(id="high", priority=5, tasks=(Task(id="b", work=1),)),
    ]
    res = _sim([Unit(id="u")], goals, scheduler=scheduler, round_interval=0).run()
    assert res.end[res.task_ids.index("b")] == pytest.approx(1.0)
    assert res.end[res.task_ids.index("a")] == pytest.approx(2.0)
    # round-robin ignores priority: arrival order (index) wins
    rr = _sim([Unit(id="u")], goals, scheduler="round_robin", round_interval=0).run()
    assert rr.end[rr.task_ids.index("a")] == pytest.approx(1.0)


def test_priority_lowers_latency_under_contention() -> None:
    goals = random_workload(600, tasks_per_goal=3, arrival_rate=8.0, deadline_slack=None, seed=3)
    res = _sim(random_units(6, seed=3), goals, scheduler="auction", priority_weight=5.0).run()
    prio = np.array([g.priority for g in goals])[res.task_goal]
    lat = res.end - res.goal_arrival[res.task_goal]
    assert lat[prio == 5].mean() < 0.5 * lat[prio == 1].mean()


def _check_schedule(res, goals: list[Goal]) -> None:
    """Dependencies respected and capacities never exceeded (from the attempt records)."""
    idx = {t: i for i, t in enumerate(res.task_ids)}
    done = res.attempt_outcome == 1
    start = np.full(len(res.task_ids), np.nan)
    start[res.attempt_task[done]] = res.attempt_start[done]
    for g in goals:
        for t in g.plan():
            i = idx[t.id]
            if res.state[i] == TaskState.COMPLETED:
                for d in t.dependencies:
                    assert res.state[idx[d]] == TaskState.COMPLETED
                    assert start[i] >= res.end[idx[d]] - 1e-9
    for j in range(len(res.unit_ids)):
        on = np.flatnonzero(res.attempt_unit == j)
        for a in on:
            t = res.attempt_start[a]
            live = on[(res.attempt_start[on] <= t) & (res.attempt_end[on] > t)]
            used = res.demand[res.attempt_task[live]].sum(axis=0)
            assert np.all(used <= res.capacity[j] * (1 + 1e-9) + 1e-9)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_random_workload_all_schedulers_complete_and_respect_constraints(scheduler: str) -> None:
    goals = random_workload(150, tasks_per_goal=6, arrival_rate=3.0, seed=1)
    res = _sim(random_units(8, seed=1), goals, scheduler=scheduler).run()
    assert res.finished and res.lost == 0
    assert res.counts()["completed"] == 150
    _check_schedule(res, goals)
    # every logged message obeys the ±1 rule
    assert np.all(np.abs(res.messages.column("sender_layer") - res.messages.column("receiver_layer")) <= 1)


def test_unit_crash_orphans_are_replanned_on_another_unit() -> None:
    goal = Goal(id="g", tasks=(Task(id="a", work=4),))
    sim = _sim(
        [Unit(id="fast", speed=2), Unit(id="slow", speed=1)], [goal], round_interval=0, detection_delay=0.5
    )
    sim.fail_unit("fast", at=1.0)
    res = sim.run()
    assert res.state[0] == TaskState.COMPLETED
    assert list(res.attempt_unit) == [0, 1] and list(res.attempt_outcome) == [2, 1]
    assert res.end[0] == pytest.approx(1.5 + 4.0)  # noticed at 1.5, then 4 time units on the slow unit
    assert res.messages.counts()["FAIL"] == 1


def test_no_live_unit_and_cascading_cancellation_reasons() -> None:
    goal = Goal(id="g", template=TaskTemplate(kind="chain", n_tasks=3, work=4))
    sim = _sim([Unit(id="u")], [goal], round_interval=0, repair_time=None)
    sim.fail_unit("u", at=1.0)
    res = sim.run()
    assert res.lost == 0
    assert [int(s) for s in res.state] == [TaskState.CANCELLED] * 3
    assert res.reason("g/0") == "no live unit"
    assert res.reason("g/1") == "dependency 'g/0' cancelled"
    assert res.reason("g/2") == "dependency 'g/1' cancelled"


def test_retries_exhausted_then_dependents_cancelled() -> None:
    goal = Goal(id="g", template=TaskTemplate(kind="chain", n_tasks=2, work=1))
    res = _sim([Unit(id="u")], [goal], ack_loss_rate=0.99, max_retries=1, seed=0).run()
    assert res.state[0] == TaskState.FAILED and res.state[1] == TaskState.CANCELLED
    assert "retries exhausted" in (res.reason("g/0") or "")
    assert res.reason("g/1") == "dependency 'g/0' failed"
    assert res.metrics["attempts"] == 2  # first try + one retry, both timed out


def test_impossible_deadline_cancelled_and_admission_control() -> None:
    late = Goal(id="late", deadline=1.0, tasks=(Task(id="x", work=10),))
    res = _sim([Unit(id="u")], [late], cancel_impossible_deadlines=True).run()
    assert res.reason("x") == "deadline impossible even on the fastest live unit"
    big = Goal(id="big", template=TaskTemplate(n_tasks=3))
    res = _sim([Unit(id="u")], [big], max_queued_tasks=2).run()
    assert res.counts()["cancelled"] == 3 and res.lost == 0
    assert res.reason("big/0") == "goal rejected by admission control (queue full)"
    assert res.messages.counts()["GOAL_REJECTED"] == 1


def test_submission_rejects_bad_goals_atomically() -> None:
    units = [Unit(id="u", capacity=(2.0, 1.0), capability=(0.5,))]
    sim = TacticalSimulation(units)
    too_big = Goal(
        id="g", tasks=(Task(id="ok", work=1, demand=(1, 1)), Task(id="huge", work=1, demand=(3, 1)))
    )
    with pytest.raises(ValueError, match=r"task 'huge' demand .* exceeds every unit's capacity"):
        sim.submit(too_big)
    assert sim.tasks.n == 0 and not sim.goals
    with pytest.raises(ValueError, match="demand has 1 entries, the unit capacity has 2"):
        sim.submit(Goal(id="g", tasks=(Task(id="a", work=1, demand=(1.0,)),)))
    with pytest.raises(ValueError, match="capability has 2 entries"):
        sim.submit(Goal(id="g", tasks=(Task(id="a", work=1, capability=(1.0, 1.0)),)))
    sim.submit(Goal(id="g", tasks=(Task(id="a", work=1),)))
    with pytest.raises(ValueError, match="duplicate goal id"):
        sim.submit(Goal(id="g", tasks=(Task(id="b", work=1),)))
    with pytest.raises(ValueError, match="duplicate task id 'a'"):
        sim.submit(Goal(id="h", tasks=(Task(id="a", work=1),)))
    with pytest.raises(ValueError, match="duplicate unit id"):
        TacticalSimulation([Unit(id="u"), Unit(id="u")])
    with pytest.raises(ValueError, match="same length"):
        TacticalSimulation([Unit(id="u", capacity=(1.0,)), Unit(id="v", capacity=(1.0, 2.0))])
    with pytest.raises(ValueError, match="unknown unit id"):
        sim.fail_unit("nope", at=1.0)


def _snapshot(res) -> list[np.ndarray]:
    m = res.messages
    return [res.state, res.end, res.attempt_unit, res.attempt_start, m.column("type"), m.column("time")]


def test_same_seed_same_run_and_stepping_matches_run() -> None:
    goals = random_workload(120, tasks_per_goal=5, arrival_rate=4.0, seed=2)
    cfg = {"failure_rate": 0.1, "ack_loss_rate": 0.05, "seed": 9}
    a = _snapshot(_sim(random_units(5, seed=2), goals, **cfg).run())
    b = _snapshot(_sim(random_units(5, seed=2), goals, **cfg).run())
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    stepped = _sim(random_units(5, seed=2), goals, **cfg)
    partial = stepped.run(until=5.0)
    assert not partial.finished and partial.counts()["open"] > 0 and partial.lost == 0
    n = 0
    while stepped.step() is not None:
        n += 1
    assert n > 0 and stepped.step() is None
    for x, y in zip(a, _snapshot(stepped.result()), strict=True):
        np.testing.assert_array_equal(x, y)
    other = _snapshot(_sim(random_units(5, seed=2), goals, **{**cfg, "seed": 10}).run())
    assert not np.array_equal(a[3], other[3])


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_unit_runs_as_many_tasks_as_fit_its_capacity(scheduler: str) -> None:
    goal = Goal(id="g", tasks=tuple(Task(id=f"t{k}", work=1.0, demand=(1.0,)) for k in range(10)))
    res = _sim([Unit(id="u", capacity=(3.0,))], [goal], scheduler=scheduler, round_interval=0).run()
    np.testing.assert_allclose(np.sort(res.end), [1, 1, 1, 2, 2, 2, 3, 3, 3, 4])
    assert res.metrics["resource_utilization_mean"] == pytest.approx(10 / 12)
    _check_schedule(res, [goal])
