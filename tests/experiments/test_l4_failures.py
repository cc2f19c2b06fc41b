"""Sweep recipe of experiment 4: L4 under failures, with the hard check that no task is lost."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from hal9.experiments.l4_failures import (
    L4FailureConfig,
    TaskLostError,
    check_no_task_lost,
    count_lost_tasks,
    l4_sweep_default,
    l4_sweep_run,
)
from hal9.experiments.sweep.recipes import TrialContext
from hal9.tactical import SCHEDULERS, MessageLog, MessageType, TacticalSimulation, TaskState

CTX = TrialContext()
SMALL: dict[str, Any] = {"goals": 6, "tasks_per_goal": 5, "units": 4}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_rate": 0.31}, "failure_rate"),
        ({"failure_rate": -0.1}, "failure_rate"),
        ({"scheduler": "magic"}, "scheduler"),
        ({"failure_mode": "flood"}, "failure_mode"),
        ({"goals": 0}, "goals"),
        ({"units": 0}, "units"),
        ({"repair_time": -1.0}, "repair_time"),
        ({"goalz": 3}, "goalz"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        L4FailureConfig(**kwargs)


def test_default_is_small_and_valid() -> None:
    cfg = L4FailureConfig.model_validate(l4_sweep_default())
    assert cfg == L4FailureConfig() and cfg.seed == 0 and cfg.goals * cfg.tasks_per_goal <= 1000


@pytest.mark.parametrize("mode", ["attempt", "crash"])
@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_real_runs_pass_the_hard_check(scheduler: str, mode: str) -> None:
    cfg = L4FailureConfig(scheduler=scheduler, failure_rate=0.3, failure_mode=mode, **SMALL, seed=2)
    m = l4_sweep_run(cfg, CTX)["metrics"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert m["tasks_lost"] == 0.0 and m["tasks"] == 30
    assert m["tasks_completed"] + m["tasks_failed"] + m["tasks_cancelled"] == 30
    assert m["completion_rate"] == m["tasks_completed"] / 30
    assert 0 <= m["deadline_miss_rate"] <= 1 and m["makespan"] > 0
    assert 1 / 4 <= m["jain_fairness.unit_utilization"] <= 1  # Jain's index over 4 units


def test_attempt_failures_are_injected_and_accounted() -> None:
    """Without preemption or ack loss each attempt ends completed or lost: attempts = completed + lost."""
    none = l4_sweep_run(L4FailureConfig(failure_rate=0.0, **SMALL), CTX)["metrics"]
    assert none["attempts_lost"] == 0 and none["attempts"] == none["tasks_completed"] == 30
    some = l4_sweep_run(L4FailureConfig(failure_rate=0.3, **SMALL), CTX)["metrics"]
    assert some["attempts_lost"] > 0 and some["units_crashed"] == 0
    assert some["attempts"] == some["tasks_completed"] + some["attempts_lost"]


def test_unit_crashes_follow_the_seeded_draw() -> None:
    for seed in range(4):
        cfg = L4FailureConfig(failure_rate=0.3, failure_mode="crash", goals=6, units=10, seed=seed)
        expected = int((np.random.default_rng([seed, 1]).random(10) < 0.3).sum())
        assert l4_sweep_run(cfg, CTX)["metrics"]["units_crashed"] == expected
    zero = L4FailureConfig(failure_rate=0.0, failure_mode="crash", **SMALL)
    m = l4_sweep_run(zero, CTX)["metrics"]
    assert m["units_crashed"] == 0 and m["attempts_lost"] == 0


def test_trial_is_seeded() -> None:
    cfg = L4FailureConfig(scheduler="greedy", failure_rate=0.2, **SMALL, seed=7)

    def untimed(c: L4FailureConfig) -> dict[str, float]:
        return {k: v for k, v in l4_sweep_run(c, CTX)["metrics"].items() if k != "seconds"}

    a = untimed(cfg)
    assert a == untimed(cfg)
    assert a != untimed(cfg.model_copy(update={"seed": 8}))


def test_hard_check_fires_when_orphans_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulator that forgets failed attempts (no re-plan, no failure) leaves tasks running forever."""
    monkeypatch.setattr(TacticalSimulation, "_orphan", lambda self, i, j: None)
    with pytest.raises(TaskLostError, match="lost"):
        l4_sweep_run(L4FailureConfig(failure_rate=0.3, **SMALL), CTX)


def test_hard_check_fires_when_goals_are_never_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every task ends, but L5 is never told (no GOAL_DONE): the tasks are not accounted for."""
    terminate = TacticalSimulation._terminate

    def silent(self: TacticalSimulation, i: int, state: int, reason: Any, **kw: Any) -> None:
        terminate(self, i, state, reason, cascade=kw.get("cascade", True), report=False)

    monkeypatch.setattr(TacticalSimulation, "_terminate", silent)
    with pytest.raises(TaskLostError, match="30 of 30 tasks lost"):
        l4_sweep_run(L4FailureConfig(failure_rate=0.0, **SMALL), CTX)


def _fake_result(**over: Any) -> Any:
    log = MessageLog()
    log.send_many(MessageType.GOAL_DONE, 4, 0, 5, 0, 1.0, 0)  # goal 0 reported to L5, goal 1 not
    base = {
        "task_ids": ["a", "b", "c", "d", "e"],
        "state": np.array(
            [
                TaskState.COMPLETED,
                TaskState.FAILED,
                TaskState.CANCELLED,
                TaskState.RUNNING,
                TaskState.COMPLETED,
            ]
        ),
        "reason_code": np.array([0, 1, 0, 0, 0]),
        "task_goal": np.array([0, 0, 0, 1, 1]),
        "goal_ids": ["g0", "g1"],
        "messages": log,
        "finished": True,
        "now": 9.0,
    }
    return SimpleNamespace(**{**base, **over})


def test_count_lost_tasks_by_hand() -> None:
    # a completed, b failed with a reason: accounted; c cancelled without a reason, d still running,
    # e completed but its goal never reported: lost (3); one submitted task missing from the result (+1)
    res = _fake_result()
    assert count_lost_tasks(res, submitted=5) == 3
    assert count_lost_tasks(res, submitted=6) == 4
    with pytest.raises(TaskLostError, match=r"4 of 6 tasks lost.*c \(CANCELLED\).*d \(RUNNING\).*1 missing"):
        check_no_task_lost(res, submitted=6)
    fixed = _fake_result(
        state=np.array([TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED, TaskState.COMPLETED]),
        reason_code=np.array([0, 1, 3, 0]),
        task_goal=np.array([0, 0, 0, 0]),
        task_ids=["a", "b", "c", "d"],
    )
    assert check_no_task_lost(fixed, submitted=4) == 0
    with pytest.raises(TaskLostError, match="events left"):
        check_no_task_lost(_fake_result(finished=False), submitted=5)
    with pytest.raises(TaskLostError, match="5 tasks but 4"):
        check_no_task_lost(_fake_result(), submitted=4)
    with pytest.raises(ValueError, match="submitted"):
        count_lost_tasks(res, submitted=-1)
