"""Regression tests for defects found in review: hangs, head-of-line blocking, slots, timeouts, reasons."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from hal9.tactical import Goal, SimulationConfig, TacticalSimulation, Task, TaskTemplate, Unit


def _run(units: list[Unit], goals: list[Goal], **cfg: object) -> TacticalSimulation:
    sim = TacticalSimulation(units, SimulationConfig(**cfg))  # type: ignore[arg-type]
    for g in goals:
        sim.submit(g)
    return sim


def test_task_only_a_failed_unit_can_hold_is_cancelled_and_the_run_ends() -> None:
    units = [Unit(id="big", capacity=(4.0,), status="failed"), Unit(id="small", capacity=(1.0,))]
    goal = Goal(
        id="g", tasks=(Task(id="huge", work=1, demand=(3.0,)), Task(id="tiny", work=1, demand=(0.5,)))
    )
    sim = _run(units, [goal], crash_rate=0.1, repair_time=1.0, seed=0)
    for _ in range(100_000):
        if sim.step() is None:
            break
    res = sim.result()
    assert res.finished and res.lost == 0
    assert res.reason("huge") == "demand exceeds the capacity of every live unit"
    assert res.state[res.task_ids.index("tiny")] == 4  # COMPLETED


@pytest.mark.parametrize("scheduler", ["auto", "auction", "edf", "round_robin"])
def test_unit_with_eight_slots_runs_eight_tasks_at_once(scheduler: str) -> None:
    goal = Goal(id="g", tasks=tuple(Task(id=f"t{k}", work=10, demand=(1.0,)) for k in range(16)))
    res = _run([Unit(id="u", capacity=(8.0,))], [goal], scheduler=scheduler).run()
    assert res.metrics["makespan"] == pytest.approx(20.0)
    assert res.metrics["resource_utilization_mean"] == pytest.approx(1.0)


def test_large_tasks_do_not_block_a_small_one_that_fits_elsewhere() -> None:
    units = [Unit(id="u0", capacity=(3.0,)), Unit(id="u1", capacity=(1.0,))]
    first = Goal(id="a", tasks=(Task(id="long", work=100, demand=(3.0,)),))
    later = Goal(
        id="b",
        arrival=0.5,
        tasks=(
            *(Task(id=f"big{k}", work=1, demand=(3.0,), priority=9) for k in range(8)),
            Task(id="small", work=1, demand=(0.5,), priority=1),
        ),
    )
    res = _run(units, [first, later], candidates_per_slot=1).run()
    small = res.task_ids.index("small")
    assert res.end[small] == pytest.approx(1.5)  # starts at 0.5 on u1, not after u0 frees up at 100


def test_ack_timeout_fires_even_if_the_unit_crashed_meanwhile() -> None:
    goal = Goal(id="g", tasks=(Task(id="a", work=1),))
    sim = _run([Unit(id="u")], [goal], ack_loss_rate=0.999, ack_timeout=1.0, detection_delay=50.0, seed=0)
    sim.fail_unit("u", at=0.5)
    res = sim.run()
    assert res.attempt_end[0] == pytest.approx(1.0)  # lost when the ACK did not come, not at detection


def test_unacknowledged_unit_is_suspected_and_work_goes_elsewhere() -> None:
    units = [Unit(id="fast", speed=10.0), Unit(id="slow", speed=1.0)]
    goal = Goal(id="g", tasks=(Task(id="a", work=1, priority=1),), arrival=0.2)
    sim = _run(units, [goal], detection_delay=100.0, max_retries=3, round_interval=0)
    sim.fail_unit("fast", at=0.1)
    res = sim.run()
    assert res.state[0] == 4  # completed on the slow unit after one timeout
    assert list(res.attempt_unit) == [0, 1]


def test_crash_process_restarts_for_goals_submitted_later() -> None:
    sim = _run([Unit(id="u")], [Goal(id="a", tasks=(Task(id="a0", work=1),))], crash_rate=0.2, seed=1)
    sim.run()
    sim.submit(Goal(id="b", arrival=sim.now, tasks=(Task(id="b0", work=100),)))
    names = []
    while (ev := sim.step()) is not None:
        names.append(ev[1])
    assert names.count("CRASH") > 0
    assert sim.result().lost == 0


def test_rejected_goal_every_task_has_the_rejection_reason() -> None:
    goal = Goal(id="g", template=TaskTemplate(kind="chain", n_tasks=3))
    res = _run([Unit(id="u")], [goal], max_queued_tasks=2).run()
    assert {res.reason(t) for t in res.task_ids} == {"goal rejected by admission control (queue full)"}
    counts = res.messages.counts()
    assert counts["GOAL_REJECTED"] == 1 and "GOAL_DONE" not in counts


def test_late_submission_arrives_now_and_latency_counts_from_then() -> None:
    sim = _run([Unit(id="u")], [Goal(id="a", tasks=(Task(id="a0", work=10),))], round_interval=0)
    sim.run()
    sim.submit(Goal(id="b", arrival=0.0, tasks=(Task(id="b0", work=1),)))
    res = sim.run()
    b0 = res.task_ids.index("b0")
    assert res.end[b0] - res.goal_arrival[res.task_goal[b0]] == pytest.approx(1.0)


def test_snapshot_metrics_bounded_and_log_frozen() -> None:
    goal = Goal(id="g", template=TaskTemplate(kind="chain", n_tasks=4, work=10))
    sim = _run([Unit(id="u"), Unit(id="v")], [goal])
    early = sim.run(until=15.0)
    assert not early.finished and 0 <= early.metrics["utilization_mean"] <= 1
    n = len(early.messages)
    sim.run()
    assert len(early.messages) == n


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"device": "bogus"}, "device"), ({"round_interval": 1e-300}, "round_interval")]
)
def test_config_rejects_bad_device_and_tiny_interval(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        SimulationConfig(**kwargs)
    assert np.isfinite(SimulationConfig(round_interval=0).round_interval)


def test_float32_costs_schedule_like_float64() -> None:
    from hal9.tactical.workload import random_units, random_workload

    goals = random_workload(300, tasks_per_goal=6, arrival_rate=4.0, seed=5)
    out = {}
    for dt in ("float32", "float64"):
        out[dt] = _run(random_units(10, seed=5), goals, cost_dtype=dt, scheduler="auction").run().metrics
    assert out["float32"]["makespan"] == pytest.approx(out["float64"]["makespan"], rel=0.02)
    assert out["float32"]["latency_mean"] == pytest.approx(out["float64"]["latency_mean"], rel=0.02)
