"""``hal9 tactical simulate``: L4 coordination of a synthetic workload on L3 units, schedulers compared."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hal9.core.config import MIN_NORMAL

__all__ = ["TacticalRunConfig", "add_tactical_parser", "run_tactical", "run_tactical_experiment"]

SCHEDULERS = ("auto", "auction", "hungarian", "greedy", "edf", "round_robin")
COMPARED = (
    "auction",
    "hungarian",
    "greedy",
    "edf",
    "round_robin",
)  # --compare ("auto" is one of the first two)


class TacticalRunConfig(BaseModel):
    """What ``hal9 tactical simulate`` runs (flattens into MLflow params)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: int = Field(2000, ge=1, le=10_000_000)
    units: int = Field(50, ge=1, le=1_000_000)
    tasks_per_goal: int = Field(10, ge=1)
    load: float = Field(0.9, ge=MIN_NORMAL, le=100, description="offered load / estimated capacity")
    failure_rate: float = Field(0.0, ge=0, lt=1, description="P(task attempt fails)")
    crash_rate: float = Field(0.0, ge=0, description="unit crashes per unit per time unit")
    preemption: bool = Field(False, description="waiting tasks may revoke lower-priority attempts")
    schedulers: tuple[Literal["auto", "auction", "hungarian", "greedy", "edf", "round_robin"], ...] = (
        "auto",
    )
    unit_source: Literal["random", "selforg"] = "random"
    neurons: int = Field(4000, ge=100, description="primordial neurons when unit_source = selforg")
    layers: int | None = Field(None, ge=3, le=9, description="force the emergent layer count (selforg)")
    seed: int = 0
    device: str = "cpu"


def add_tactical_parser(sub: Any) -> None:
    """Add ``tactical simulate`` to the CLI's subparsers."""
    tac = sub.add_parser("tactical", help="L4 tactical coordination: simulate schedulers on L3 units")
    tsub = tac.add_subparsers(dest="tactical_command", metavar="SUBCOMMAND")
    sim = tsub.add_parser(
        "simulate",
        help="run the contract-net coordinator on a seeded workload and report makespan, latency, …",
        description="Seeded workload of goals (layered task DAGs) on L3 units, coordinated by L4 with "
        "the contract-net protocol; reports makespan, latency, deadline misses, utilisation, Jain's "
        "fairness, messages and the counts of completed / failed / cancelled / lost tasks.",
    )
    sim.add_argument("--tasks", type=int, default=2000, help="tasks in the workload (default 2000)")
    sim.add_argument("--units", type=int, default=50, help="L3 units (default 50)")
    sim.add_argument("--tasks-per-goal", type=int, default=10)
    sim.add_argument("--load", type=float, default=0.9, help="offered load vs estimated capacity (0.9)")
    sim.add_argument("--failure-rate", type=float, default=0.0, help="P(a task attempt fails), e.g. 0.05")
    sim.add_argument("--crash-rate", type=float, default=0.0, help="unit crashes per unit per time unit")
    sim.add_argument(
        "--preemption", action="store_true", help="let waiting tasks revoke lower-priority attempts"
    )
    group = sim.add_mutually_exclusive_group()
    group.add_argument("--scheduler", choices=SCHEDULERS, default="auto")
    group.add_argument("--compare", action="store_true", help="run every scheduler on the same workload")
    sim.add_argument(
        "--from-selforg", type=int, metavar="NEURONS", default=None, help="units from an emergent L3 layer"
    )
    sim.add_argument("--layers", type=int, default=None, help="force the emergent layer count (3..9)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--device", default="cpu")
    sim.add_argument("--outputs", type=Path, default=Path("outputs"), help="figure folder (default outputs/)")
    sim.add_argument("--no-figures", action="store_true", help="skip the figures")
    sim.add_argument("--experiment", default="hal9-tactical", help="MLflow experiment name")
    sim.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)")
    sim.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    sim.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_units(cfg: TacticalRunConfig) -> tuple[list[Any], dict[str, Any]]:
    """Random units, or units grouped from the L3 layer of a self-organized hierarchy."""
    from hal9.tactical.units import units_from_layer
    from hal9.tactical.workload import random_units

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


def arrival_rate(units: list[Any], cfg: TacticalRunConfig) -> float:
    """Goals per time unit for the requested offered ``load``.

    Capacity estimate (tasks per time unit) = Σ_j speed_j · min_r(capacity_jr / E[demand_r]) / E[work] with
    the workload's means E[work] = 5.5 and E[demand_r] = 0.55 (mismatch slow-down ignored).
    """
    slots = sum(u.speed * min(c / 0.55 for c in u.capacity) for u in units)
    return cfg.load * slots / 5.5 / cfg.tasks_per_goal


def run_tactical_experiment(cfg: TacticalRunConfig, *, progress: bool = False) -> tuple[dict[str, Any], dict]:
    """Simulate every scheduler of ``cfg`` on one seeded workload; returns ``(summary, results)``."""
    from hal9.tactical import SimulationConfig, TacticalSimulation
    from hal9.tactical.workload import random_workload

    units, info = build_units(cfg)
    rate = arrival_rate(units, cfg)
    goals = random_workload(cfg.tasks, tasks_per_goal=cfg.tasks_per_goal, arrival_rate=rate, seed=cfg.seed)
    results = {}
    summary: dict[str, Any] = {
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
        s = res.summary()
        s["seconds"] = time.perf_counter() - t0
        summary["schedulers"][name] = s
        results[name] = res
    if len(cfg.schedulers) == 1:
        only = summary["schedulers"][cfg.schedulers[0]]
        summary["counts"], summary["metrics"] = only["counts"], only["metrics"]
    return summary, results


def _figures(results: dict, summary: dict, outputs: Path) -> list[Path]:
    from hal9.viz import save_figure
    from hal9.viz.tactical import plot_cooperation, plot_gantt, plot_scheduler_comparison, plot_utilisation

    first = next(iter(results))
    res = results[first]
    figs = [
        save_figure(plot_gantt(res), outputs / f"gantt_{first}.png"),
        save_figure(plot_cooperation(res), outputs / f"cooperation_{first}.png"),
        save_figure(plot_utilisation(res), outputs / f"utilisation_{first}.png"),
    ]
    if len(results) > 1:
        metrics = {k: v["metrics"] for k, v in summary["schedulers"].items()}
        figs.append(save_figure(plot_scheduler_comparison(metrics), outputs / "schedulers.png"))
    return figs


def run_and_log(
    cfg: TacticalRunConfig,
    *,
    outputs: Path | None,
    experiment: str,
    tracking_uri: str | None,
    progress: bool = False,
) -> dict[str, Any]:
    """Simulate, draw the figures into ``outputs`` (none when ``None``), log one MLflow run; the summary."""
    from hal9.cli._logging import log_run

    summary, results = run_tactical_experiment(cfg, progress=progress)
    figures = [] if outputs is None else _figures(results, summary, outputs)
    summary["figures"] = [str(f) for f in figures]
    metrics: dict[str, float] = {}
    for name, s in summary["schedulers"].items():
        flat = {**s["metrics"], **{f"tasks_{c}": n for c, n in s["counts"].items()}, "seconds": s["seconds"]}
        metrics.update({f"{name}.{k}": float(v) for k, v in flat.items() if v is not None})
    summary["mlflow"] = log_run(
        experiment,
        config=cfg,
        run_name=f"tactical-{cfg.tasks}x{cfg.units}",
        tracking_uri=tracking_uri,
        metrics=metrics,
        artifacts=figures,
    )
    return summary


def run_tactical(args: argparse.Namespace) -> int:
    """Run ``hal9 tactical …``; returns the exit code."""
    from pydantic import ValidationError

    if getattr(args, "tactical_command", None) != "simulate":
        print("usage: hal9 tactical simulate [--tasks N --units M ...]; see hal9 tactical simulate --help")
        return 2
    try:
        cfg = TacticalRunConfig(
            tasks=args.tasks,
            units=args.units,
            tasks_per_goal=args.tasks_per_goal,
            load=args.load,
            failure_rate=args.failure_rate,
            crash_rate=args.crash_rate,
            preemption=args.preemption,
            schedulers=COMPARED if args.compare else (args.scheduler,),
            unit_source="random" if args.from_selforg is None else "selforg",
            neurons=args.from_selforg or 4000,
            layers=args.layers,
            seed=args.seed,
            device=args.device,
        )
        summary = run_and_log(
            cfg,
            outputs=None if args.no_figures else args.outputs,
            experiment=args.experiment,
            tracking_uri=args.tracking_uri,
            progress=not args.no_progress,
        )
    except (ValueError, ValidationError) as exc:
        print(f"hal9 tactical: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{cfg.tasks:,} tasks in {summary['goals']:,} goals on {summary['units']} units "
        f"({summary['unit_source']['source']})"
    )
    for name, s in summary["schedulers"].items():
        m = {k: (float("nan") if v is None else v) for k, v in s["metrics"].items()}
        c = s["counts"]
        print(
            f"  {name:<12} makespan {m['makespan']:.4g}  latency {m['latency_mean']:.4g} "
            f"(P95 {m['latency_p95']:.4g})  miss {m['deadline_miss_rate']:.3f}  "
            f"util {m['utilisation_mean']:.3f}  Jain {m['jain_fairness']:.3f}  "
            f"msgs {int(m['messages']):,}  done/failed/cancelled/lost {c['completed']}/{c['failed']}/"
            f"{c['cancelled']}/{c['lost']}  ({s['seconds']:.2f} s)"
        )
    print(f"  figures: {', '.join(summary['figures']) or 'none'}")
    ml = summary["mlflow"]
    print(f"  MLflow: {ml['fallback_path'] or ml['tracking_uri'] + ' run ' + ml['run_id']}")
    return 0
