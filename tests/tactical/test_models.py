"""Validation of goals, tasks, templates and units: bad input fails loudly, naming the problem."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hal9.tactical import Goal, SimulationConfig, Task, TaskTemplate, Unit, topological_order
from hal9.tactical.dag import expand_template


def test_template_shapes() -> None:
    chain = expand_template("g", TaskTemplate(kind="chain", n_tasks=3))
    assert [t.dependencies for t in chain] == [(), ("g/0",), ("g/1",)]
    fj = expand_template("g", TaskTemplate(kind="fork_join", n_tasks=4))
    assert [t.dependencies for t in fj] == [(), ("g/0",), ("g/0",), ("g/1", "g/2")]
    lay = expand_template("g", TaskTemplate(kind="layered", n_tasks=5, width=2))
    assert [t.dependencies for t in lay] == [(), (), ("g/0", "g/1"), ("g/0", "g/1"), ("g/2", "g/3")]


def test_goal_defaults_flow_into_tasks() -> None:
    g = Goal(id="g", priority=3, deadline=10, tasks=(Task(id="a", work=1), Task(id="b", work=1, priority=7)))
    a, b = g.plan()
    assert (a.priority, a.deadline) == (3, 10)
    assert (b.priority, b.deadline) == (7, 10)


def test_cycle_error_names_the_cycle() -> None:
    tasks = (
        Task(id="a", work=1, dependencies=("c",)),
        Task(id="b", work=1, dependencies=("a",)),
        Task(id="c", work=1, dependencies=("b",)),
        Task(id="d", work=1),
    )
    with pytest.raises(ValidationError, match=r"cycle: (a → b → c → a|b → c → a → b|c → a → b → c)"):
        Goal(id="g", tasks=tasks)
    with pytest.raises(ValueError, match="cycle"):
        topological_order([Task(id="x", work=1, dependencies=("x",))])


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ((Task(id="a", work=1), Task(id="a", work=2)), "duplicate task id 'a'"),
        ((Task(id="a", work=1, dependencies=("zz",)),), "unknown task id 'zz'"),
        ((), "tasks must not be empty"),
    ],
)
def test_bad_task_graphs(tasks: tuple[Task, ...], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Goal(id="g", tasks=tasks)


def test_goal_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Goal(id="g")
    with pytest.raises(ValidationError, match="exactly one"):
        Goal(id="g", tasks=(Task(id="a", work=1),), template=TaskTemplate(n_tasks=2))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": "a", "work": -1}, "work"),
        ({"id": "a", "work": 0}, "work"),
        ({"id": "a", "work": float("nan")}, "work"),
        ({"id": "a", "work": 1, "demand": (1.0, -0.5)}, "demand"),
        ({"id": "a", "work": 1, "capability": (float("inf"),)}, "capability"),
        ({"id": "", "work": 1}, "id"),
        ({"id": "a", "work": 1, "colour": "red"}, "colour"),
    ],
)
def test_bad_task_fields(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Task(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": "u", "capacity": (-1.0,)}, "capacity"),
        ({"id": "u", "speed": 0}, "speed"),
        ({"id": "u", "status": "sleepy"}, "status"),
    ],
)
def test_bad_unit_fields(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Unit(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_rate": 1.0}, "failure_rate"),
        ({"scheduler": "magic"}, "scheduler"),
        ({"ack_timeout": 0}, "ack_timeout"),
        ({"max_queued_tasks": 0}, "max_queued_tasks"),
    ],
)
def test_bad_config(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        SimulationConfig(**kwargs)
