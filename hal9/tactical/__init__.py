"""L4 tactical coordination: goals from L5 become scheduled, resource-allocated work on L3 units.

* :mod:`~hal9.tactical.models` — validated ``Goal`` / ``Task`` / ``TaskTemplate`` / ``Unit``, the
  ``SimulationConfig`` and the scheduler names (``Scheduler``, ``SCHEDULERS``);
* :mod:`~hal9.tactical.messages` — typed messages, the ±1 routing rule, the message log;
* :mod:`~hal9.tactical.assignment` — ``assign(cost, method=…)``: ``"auto"`` (default: the fastest exact
  solver for the size and cost type), ε-auction (torch; exact integer auction), SciPy's Hungarian/JV,
  ``lap``'s LAPJV (optional), greedy;
* :mod:`~hal9.tactical.simulation` — the contract-net protocol as a seeded discrete-event simulation;
* :mod:`~hal9.tactical.units` / :mod:`~hal9.tactical.workload` — units from an emergent L3 layer, synthetic
  workloads.
"""

from hal9.tactical.assignment import Assignment, assign
from hal9.tactical.dag import topological_order
from hal9.tactical.messages import LayerRoutingError, Message, MessageLog, MessageType, check_route
from hal9.tactical.models import (
    ASSIGNMENT_SCHEDULERS,
    SCHEDULERS,
    AssignmentScheduler,
    Goal,
    Scheduler,
    SimulationConfig,
    Task,
    TaskTemplate,
    Unit,
)
from hal9.tactical.results import SimulationResult, TaskState, jain_index
from hal9.tactical.simulation import Reason, TacticalSimulation
from hal9.tactical.units import units_from_layer
from hal9.tactical.workload import random_units, random_workload

__all__ = [
    "ASSIGNMENT_SCHEDULERS",
    "SCHEDULERS",
    "Assignment",
    "AssignmentScheduler",
    "Goal",
    "LayerRoutingError",
    "Message",
    "MessageLog",
    "MessageType",
    "Reason",
    "Scheduler",
    "SimulationConfig",
    "SimulationResult",
    "TacticalSimulation",
    "Task",
    "TaskState",
    "TaskTemplate",
    "Unit",
    "assign",
    "check_route",
    "jain_index",
    "random_units",
    "random_workload",
    "topological_order",
    "units_from_layer",
]
