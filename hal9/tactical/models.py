"""Validated inputs of the L4 tactical coordinator: tasks, goals (from L5), units (L3), simulation config.

All models are pydantic v2, frozen, ``extra="forbid"``: a misspelt or unknown field is an error naming it, and
negative work or capacity, non-finite numbers and empty ids are rejected at the boundary. Task graphs are
checked when a :class:`Goal` is built (duplicate ids, unknown dependencies, cycles — the error names the
cycle),
see :mod:`hal9.tactical.dag`.

Units of measure: ``work`` in work units, ``speed`` in work units per time unit, so a task's base duration
``work / speed`` is in time units; ``deadline`` and ``arrival`` are absolute simulation times; capability and
resource vectors are dimensionless.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from hal9.core import MIN_NORMAL, FrozenConfig, check_device

__all__ = ["SCHEDULERS", "Goal", "Scheduler", "SimulationConfig", "Task", "TaskTemplate", "Unit"]

#: How L4 plans a scheduling round (see :mod:`hal9.tactical.policies`): ``auto`` (exact Hungarian for small
#: rounds, ε-auction for large ones or on CUDA), ``auction``, ``hungarian``, ``greedy`` (assignment problems),
#: ``edf`` (earliest deadline first) and ``round_robin`` (baselines). The one declaration of the scheduler
#: names: CLI choices, service schemas and experiment configs derive from it.
#: Schedulers that solve each round as an assignment problem (:mod:`hal9.tactical.policies`).
AssignmentScheduler = Literal["auto", "auction", "hungarian", "greedy"]
#: Every scheduler: the assignment ones, then the baselines EDF and round-robin.
Scheduler = Literal[AssignmentScheduler, "edf", "round_robin"]
#: ``typing.get_args(Scheduler)``: the scheduler names, in declaration order.
SCHEDULERS: tuple[Scheduler, ...] = get_args(Scheduler)
#: ``typing.get_args(AssignmentScheduler)``.
ASSIGNMENT_SCHEDULERS: tuple[AssignmentScheduler, ...] = get_args(AssignmentScheduler)


def _finite_nonneg(v: tuple[float, ...]) -> tuple[float, ...]:
    for i, x in enumerate(v):
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"entry {i} must be finite and >= 0, got {x}")
    return v


#: A vector of finite, non-negative numbers (capabilities, resource demands and capacities).
NonNegVector = Annotated[tuple[float, ...], AfterValidator(_finite_nonneg)]
Id = Annotated[str, Field(min_length=1, max_length=200)]
FiniteTime = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Task(FrozenConfig):
    """One unit of work of a goal.

    ``priority`` and ``deadline`` default to the goal's when ``None``. ``capability`` is what the task needs
    (compared with a unit's capability; a shortfall slows the unit down, see
    :func:`hal9.tactical.costs.duration_matrix`); ``demand`` is what it occupies on the unit while it runs
    (one entry per resource, same length as every unit's ``capacity``).
    """

    id: Id
    work: float = Field(ge=MIN_NORMAL, allow_inf_nan=False, description="amount of work (work units), > 0")
    capability: NonNegVector = ()
    demand: NonNegVector = ()
    priority: float | None = Field(None, ge=0, allow_inf_nan=False, description="higher runs first")
    deadline: float | None = Field(None, gt=0, allow_inf_nan=False, description="absolute time")
    dependencies: tuple[Id, ...] = ()


class TaskTemplate(FrozenConfig):
    """A decomposition template: a goal's task DAG generated from a few numbers (no randomness).

    * ``chain``: ``t0 → t1 → … → t(n−1)``;
    * ``fork_join``: ``t0 → {t1 … t(n−2)} → t(n−1)`` (``n ≥ 3``; smaller ``n`` is a chain);
    * ``layered``: stages of ``width`` tasks, every task depending on every task of the previous stage.
    """

    kind: Literal["chain", "fork_join", "layered"] = "fork_join"
    n_tasks: int = Field(ge=1, le=100_000)
    work: float = Field(1.0, ge=MIN_NORMAL, allow_inf_nan=False)
    width: int = Field(2, ge=1, description="tasks per stage of a layered template")
    capability: NonNegVector = ()
    demand: NonNegVector = ()


class Goal(FrozenConfig):
    """A goal sent by L5: an explicit task DAG (``tasks``) or a ``template`` to decompose (exactly one).

    Validation builds and checks the DAG, so an accepted goal has unique task ids, known dependencies and
    no cycle.
    """

    id: Id
    priority: float = Field(1.0, ge=0, allow_inf_nan=False, description="weight of the goal (higher first)")
    deadline: float | None = Field(None, gt=0, allow_inf_nan=False, description="absolute time")
    arrival: FiniteTime = 0.0
    tasks: tuple[Task, ...] | None = None
    template: TaskTemplate | None = None
    _plan: tuple[Task, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _one_source(self) -> Goal:
        if (self.tasks is None) == (self.template is None):
            raise ValueError("a goal needs exactly one of 'tasks' (an explicit DAG) or 'template'")
        if self.tasks is not None and not self.tasks:
            raise ValueError("tasks must not be empty")
        from hal9.tactical.dag import check_dag

        self._plan = self._build_plan()
        check_dag(self._plan)
        return self

    def plan(self) -> tuple[Task, ...]:
        """The goal's tasks (the explicit ones, or the template expanded), with goal defaults filled in."""
        return self._plan or self._build_plan()

    def _build_plan(self) -> tuple[Task, ...]:
        from hal9.tactical.dag import expand_template

        raw = self.tasks if self.tasks is not None else expand_template(self.id, self.template)  # type: ignore[arg-type]
        if all(t.priority is not None and t.deadline is not None for t in raw):
            return tuple(raw)
        return tuple(
            t.model_copy(
                update={
                    "priority": self.priority if t.priority is None else t.priority,
                    "deadline": self.deadline if t.deadline is None else t.deadline,
                }
            )
            for t in raw
        )


class Unit(FrozenConfig):
    """An L3 operational unit: capability vector, speed (work units per time unit), capacity per resource."""

    id: Id
    capability: NonNegVector = ()
    speed: float = Field(1.0, ge=MIN_NORMAL, allow_inf_nan=False)
    capacity: NonNegVector = ()
    status: Literal["available", "failed"] = "available"


class SimulationConfig(FrozenConfig):
    """Configuration of :class:`hal9.tactical.simulation.TacticalSimulation` (flattens into MLflow params).

    Times are in simulation time units. A scheduling round runs at most every ``round_interval`` (0: at
    every event time) over the ready tasks. Failures: ``failure_rate`` is the probability that a task attempt
    fails on its unit (the unit reports FAIL part-way through; L4 re-plans the task); ``crash_rate`` is the
    rate (per unit per time unit, a Poisson process) at which a whole unit crashes, losing every attempt
    on it — L4 notices ``detection_delay`` later (missed progress reports), re-plans the orphans, and the
    unit is back ``repair_time`` after that (``None``: never). ``ack_loss_rate`` is
    the probability that an awarded unit never acknowledges (the award times out after ``ack_timeout``).
    """

    scheduler: Scheduler = "auto"
    round_interval: float = Field(0.25, ge=0, allow_inf_nan=False)
    failure_rate: float = Field(0.0, ge=0, lt=1, description="P(attempt fails on its unit)")
    crash_rate: float = Field(0.0, ge=0, allow_inf_nan=False, description="unit crashes per time unit")
    ack_loss_rate: float = Field(0.0, ge=0, lt=1)
    ack_timeout: float = Field(1.0, ge=MIN_NORMAL, allow_inf_nan=False)
    detection_delay: float = Field(1.0, ge=MIN_NORMAL, allow_inf_nan=False)
    repair_time: float | None = Field(5.0, ge=0, allow_inf_nan=False)
    max_retries: int = Field(3, ge=0, description="re-plans of one task before it fails")
    mismatch_weight: float = Field(1.0, ge=0, allow_inf_nan=False, description="slow-down per shortfall")
    priority_weight: float = Field(0.5, ge=0, allow_inf_nan=False, description="time units per priority")
    urgency_weight: float = Field(0.0, ge=0, allow_inf_nan=False)
    candidates_per_slot: int = Field(4, ge=1, description="ready tasks offered per free unit per round")
    fairness: Literal["drf", "fifo"] = Field("drf", description="order among goals of equal priority")
    cancel_impossible_deadlines: bool = False
    preemption: bool = Field(
        False, description="a waiting task may revoke strictly lower-priority running attempts"
    )
    max_queued_tasks: int | None = Field(None, ge=1, description="admission control (None: unbounded)")
    auction_tol: float = Field(1e-3, gt=0, le=1, description="relative cost tolerance of the auction")
    cost_dtype: Literal["float32", "float64"] = Field(
        "float32", description="dtype of the round's cost matrix"
    )
    seed: int = 0
    device: str = "cpu"

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        return check_device(v)

    @model_validator(mode="after")
    def _preemption_needs_priorities(self) -> SimulationConfig:
        if self.preemption and self.scheduler == "round_robin":
            raise ValueError(
                "preemption revokes by priority, which round_robin ignores by design (each round's choice "
                "would be revoked at once): use another scheduler or preemption=False"
            )
        return self

    @field_validator("round_interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if 0 < v < 1e-6:
            raise ValueError(f"round_interval must be 0 (every event time) or >= 1e-6, got {v}")
        return v
