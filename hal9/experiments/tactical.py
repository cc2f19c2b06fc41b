"""The tactical recipe: L4 coordination of a seeded synthetic workload on L3 units, schedulers compared.

``hal9 tactical simulate`` and ``experiments/tactical_schedulers.py`` run :func:`run_and_log`; the service's
``tactical`` job runs :func:`run_tactical_experiment` with one scheduler.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, cast

from pydantic import BaseModel, ConfigDict, Field

from hal9.core import MIN_NORMAL
from hal9.experiments._tracking import MlflowRef, log_run
from hal9.tactical import SCHEDULERS, Goal, Scheduler, Unit

__all__ = [
    "COMPARED",
    "SchedulerSummary",
    "TacticalRunConfig",
    "TacticalSummary",
    "arrival_rate",
    "build_units",
    "make_workload",
    "run_and_log",
    "run_tactical_experiment",
]

#: The schedulers ``--compare`` runs: every one but ``auto`` (which is one of ``auction`` / ``hungarian``).
COMPARED: tuple[Scheduler, ...] = tuple(s for s in SCHEDULERS if s != "auto")
#: Means of :func:`hal9.tactical.workload.random_workload`: E[work] (work units) and E[demand_r].
_MEAN_WORK, _MEAN_DEMAND = 5.5, 0.55


class TacticalRunConfig(BaseModel):
    """What ``hal9 tactical simulate`` runs (flattens into MLflow params).

    Attributes
    ----------
    tasks, units, tasks_per_goal : int
        Workload size, L3 units, tasks per goal (a layered DAG).
    load : float
        Offered load / estimated capacity (:func:`arrival_rate`).
    failure_rate, crash_rate : float
        P(a task attempt fails); unit crashes per unit per time unit.
    preemption : bool
        Waiting tasks may revoke lower-priority attempts.
    schedulers : tuple of Scheduler
        Run in turn on the same workload (:data:`hal9.tactical.SCHEDULERS`).
    unit_source : {"random", "selforg"}
        Random units, or units grouped from the L3 layer of ``neurons`` self-organized neurons.
    layers : int or None
        Force the emergent layer count (``selforg``).
    seed : int
        Seeds units, workload, simulation (and self-organization).
    device : str
        Of the scheduling rounds (and self-organization).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: int = Field(2000, ge=1, le=10_000_000)
    units: int = Field(50, ge=1, le=1_000_000)
    tasks_per_goal: int = Field(10, ge=1)
    load: float = Field(0.9, ge=MIN_NORMAL, le=100, description="offered load / estimated capacity")
    failure_rate: float = Field(0.0, ge=0, lt=1, description="P(task attempt fails)")
    crash_rate: float = Field(0.0, ge=0, description="unit crashes per unit per time unit")
    preemption: bool = Field(False, description="waiting tasks may revoke lower-priority attempts")
    schedulers: tuple[Scheduler, ...] = Field(("auto",), min_length=1)
    unit_source: Literal["random", "selforg"] = "random"
    neurons: int = Field(4000, ge=100, description="primordial neurons when unit_source = selforg")
    layers: int | None = Field(None, ge=3, le=9, description="force the emergent layer count (selforg)")
    seed: int = 0
    device: str = "cpu"


class SchedulerSummary(TypedDict):
    """One scheduler's run: :meth:`hal9.tactical.SimulationResult.summary` plus its wall-clock seconds."""

    scheduler: str
    #: Whether every task reached a terminal state.
    finished: bool
    #: ``completed`` / ``failed`` / ``cancelled`` / ``lost`` … task counts.
    counts: dict[str, int]
    #: makespan, latency (mean, P95), deadline-miss rate, utilisation, Jain's fairness, messages, …
    metrics: dict[str, float | None]
    #: Submit + run, seconds.
    seconds: float


class TacticalSummary(TypedDict):
    """What :func:`run_tactical_experiment` returns (:func:`run_and_log` adds ``figures`` and ``mlflow``)."""

    tasks: int
    units: int
    goals: int
    #: Goals per time unit (:func:`arrival_rate`).
    arrival_rate_goals: float
    #: ``source`` (``random`` / ``selforg``) and, for ``selforg``, the layer the units came from.
    unit_source: dict[str, Any]
    schedulers: dict[str, SchedulerSummary]
    #: The only scheduler's counts and metrics, when ``cfg.schedulers`` has one.
    counts: NotRequired[dict[str, int]]
    metrics: NotRequired[dict[str, float | None]]
    figures: NotRequired[list[str]]
    mlflow: NotRequired[MlflowRef | None]


def build_units(cfg: TacticalRunConfig) -> tuple[list[Unit], dict[str, Any]]:
    """Random units, or units grouped from the L3 layer of a self-organized hierarchy.

    Returns
    -------
    (list of Unit, dict)
        The units and where they came from (``{"source": "random"}``, or ``selforg`` with ``n_layers``,
        ``layer`` and ``layer_size``).

    Raises
    ------
    ValueError
        With ``selforg``, when fewer than 3 layers emerged (there is no L3): pass ``layers``.
    """
    from hal9.tactical import random_units, units_from_layer

    if cfg.unit_source == "random":
        return random_units(cfg.units, seed=cfg.seed), {"source": "random"}
    from hal9.selforg.organizer import OrganizeConfig, SelfOrganizer

    org_cfg = OrganizeConfig(
        neurons=cfg.neurons, n_layers=cfg.layers, n_null=0, seed=cfg.seed, device=cfg.device
    )
    lay = (org := SelfOrganizer(org_cfg).fit()).layering_
    if lay.n_layers < 3:
        raise ValueError(
            f"only {lay.n_layers} layers emerged from {cfg.neurons} neurons, so there is no L3; "
            "pass --layers 3..9 to force the layer count"
        )
    layer = 2
    feats = org.population_.features.cpu()
    units = units_from_layer(feats, lay.labels.cpu(), layer=layer, n_units=cfg.units, seed=cfg.seed)
    info = {
        "source": "selforg",
        "n_layers": lay.n_layers,
        "layer": f"L{layer + 1}",
        "layer_size": int(lay.sizes[layer]),
    }
    return units, info


def arrival_rate(units: list[Unit], cfg: TacticalRunConfig) -> float:
    """Goals per time unit for the requested offered ``load``.

    ``rate = load · C / G`` with the capacity estimate (tasks per time unit)
    ``C = Σ_j speed_j · min_r(capacity_jr / E[demand_r]) / E[work]``, the workload's means E[work] = 5.5 and
    E[demand_r] = 0.55 (mismatch slow-down ignored), and ``G = tasks_per_goal``.

    Examples
    --------
    One unit of speed 2 with room for 1.1 of each resource (two average tasks) at load 0.5, one task per
    goal: 0.5 · 2 · 2 / 5.5 goals per time unit.

    >>> cfg = TacticalRunConfig(load=0.5, tasks_per_goal=1)
    >>> round(arrival_rate([Unit(id="u", speed=2.0, capacity=(1.1, 1.1))], cfg), 12) == round(2 / 5.5, 12)
    True
    """
    slots = sum(u.speed * min(c / _MEAN_DEMAND for c in u.capacity) for u in units)
    return cfg.load * slots / _MEAN_WORK / cfg.tasks_per_goal


def make_workload(units: list[Unit], cfg: TacticalRunConfig) -> list[Goal]:
    """The seeded workload of ``cfg``: ``cfg.tasks`` tasks in layered goals, arriving at :func:`arrival_rate`.

    Returns
    -------
    list of Goal
        :func:`hal9.tactical.workload.random_workload` with ``cfg.tasks_per_goal`` tasks per goal and
        ``seed = cfg.seed``.
    """
    from hal9.tactical import random_workload

    rate = arrival_rate(units, cfg)
    return random_workload(cfg.tasks, tasks_per_goal=cfg.tasks_per_goal, arrival_rate=rate, seed=cfg.seed)


def run_tactical_experiment(
    cfg: TacticalRunConfig, *, progress: bool = False
) -> tuple[TacticalSummary, dict[str, Any]]:
    """Simulate every scheduler of ``cfg`` on one seeded workload.

    Returns
    -------
    (TacticalSummary, dict of str to SimulationResult)
        The summary (per scheduler: counts, metrics, seconds of submit + run) and the full results.
    """
    from hal9.tactical import SimulationConfig, TacticalSimulation

    units, info = build_units(cfg)
    rate = arrival_rate(units, cfg)
    goals = make_workload(units, cfg)
    results: dict[str, Any] = {}
    summary: TacticalSummary = {
        "tasks": cfg.tasks,
        "units": len(units),
        "goals": len(goals),
        "arrival_rate_goals": rate,
        "unit_source": info,
        "schedulers": {},
    }
    for name in cfg.schedulers:
        sim = TacticalSimulation(
            units,
            SimulationConfig(
                scheduler=name,
                failure_rate=cfg.failure_rate,
                crash_rate=cfg.crash_rate,
                preemption=cfg.preemption,
                seed=cfg.seed,
                device=cfg.device,
            ),
        )
        t0 = time.perf_counter()
        for g in goals:
            sim.submit(g)
        res = sim.run(progress=progress)
        s = cast(SchedulerSummary, res.summary())
        s["seconds"] = time.perf_counter() - t0
        summary["schedulers"][name] = s
        results[name] = res
    if len(cfg.schedulers) == 1:
        only = summary["schedulers"][cfg.schedulers[0]]
        summary["counts"], summary["metrics"] = only["counts"], only["metrics"]
    return summary, results


def _figures(results: dict[str, Any], summary: TacticalSummary, outputs: Path) -> list[Path]:
    from hal9.viz import save_figure
    from hal9.viz.tactical import plot_cooperation, plot_gantt, plot_scheduler_comparison, plot_utilization

    first = next(iter(results))
    res = results[first]
    figs = [
        save_figure(plot_gantt(res), outputs / f"gantt_{first}.png"),
        save_figure(plot_cooperation(res), outputs / f"cooperation_{first}.png"),
        save_figure(plot_utilization(res), outputs / f"utilization_{first}.png"),
    ]
    if len(results) > 1:
        metrics: dict[str, Any] = {k: v["metrics"] for k, v in summary["schedulers"].items()}
        figs.append(save_figure(plot_scheduler_comparison(metrics), outputs / "schedulers.png"))
    return figs


def run_and_log(
    cfg: TacticalRunConfig,
    *,
    outputs: Path | None = None,
    experiment: str | None = "hal9-tactical",
    tracking_uri: str | None = None,
    progress: bool = False,
) -> TacticalSummary:
    """Simulate, draw the figures into ``outputs`` (none when ``None``), log one MLflow run; the summary.

    Parameters
    ----------
    cfg : TacticalRunConfig
    outputs : Path or None
        Folder of ``gantt_<first>.png``, ``cooperation_<first>.png``, ``utilisation_<first>.png`` (and
        ``schedulers.png`` for several schedulers); ``None``: no figures.
    experiment : str or None
        MLflow experiment (config as params, ``<scheduler>.<metric>`` metrics, the figures); ``None``: no
        MLflow run (``"mlflow"`` is ``None``).
    tracking_uri : str or None
        MLflow backend; ``None``: the environment or ``./mlflow.db``.
    progress : bool
        Progress bar of each simulation (stderr).
    """
    summary, results = run_tactical_experiment(cfg, progress=progress)
    figures = [] if outputs is None else _figures(results, summary, outputs)
    summary["figures"] = [str(f) for f in figures]
    metrics: dict[str, float] = {}
    for name, s in summary["schedulers"].items():
        flat = {**s["metrics"], **{f"tasks_{c}": n for c, n in s["counts"].items()}, "seconds": s["seconds"]}
        metrics.update({f"{name}.{k}": float(v) for k, v in flat.items() if v is not None})
    summary["mlflow"] = None
    if experiment is not None:
        summary["mlflow"] = log_run(
            experiment,
            config=cfg,
            run_name=f"tactical-{cfg.tasks}x{cfg.units}",
            tracking_uri=tracking_uri,
            metrics=metrics,
            artifacts=figures,
        )
    return summary
