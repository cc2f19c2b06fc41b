"""``hal9 tactical simulate``: argument parsing and printing around
:func:`hal9.experiments.tactical.run_and_log`.

``--scheduler`` offers :data:`hal9.tactical.SCHEDULERS`; ``--compare`` runs
:data:`hal9.experiments.tactical.COMPARED`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_tactical_parser", "run_tactical"]


def add_tactical_parser(sub: Any) -> None:
    """Add ``tactical simulate`` to the CLI's subparsers."""
    from hal9.tactical.models import SCHEDULERS

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


def run_tactical(args: argparse.Namespace) -> int:
    """Run ``hal9 tactical …``; returns the exit code (2: bad input or no subcommand)."""

    from hal9.experiments.tactical import COMPARED, TacticalRunConfig, run_and_log

    if getattr(args, "tactical_command", None) != "simulate":
        print("usage: hal9 tactical simulate [--tasks N --units M ...]; see hal9 tactical simulate --help")
        return 2
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
            f"util {m['utilization_mean']:.3f}  Jain {m['jain_fairness']:.3f}  "
            f"msgs {int(m['messages']):,}  done/failed/cancelled/lost {c['completed']}/{c['failed']}/"
            f"{c['cancelled']}/{c['lost']}  ({s['seconds']:.2f} s)"
        )
    print(f"  figures: {', '.join(summary.get('figures', [])) or 'none'}")
    ml = summary.get("mlflow")
    where = "not logged" if ml is None else ml["fallback_path"] or f"{ml['tracking_uri']} run {ml['run_id']}"
    print(f"  MLflow: {where}")
    return 0
