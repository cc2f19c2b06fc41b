"""``hal9 sweep CONFIG``: run a sweep config on Ray (:func:`hal9.experiments.sweep.run_sweep`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_sweep_parser", "run_sweep_command"]


def add_sweep_parser(sub: Any) -> None:
    """Register ``hal9 sweep``."""
    p = sub.add_parser(
        "sweep",
        help="run a sweep (recipe × grid/random × seeds) on Ray, each trial an MLflow child run",
        description=(
            "Run every trial of a sweep config (JSON or YAML) as a Ray task: locally on this machine's "
            "cores, or on a cluster with --address / RAY_ADDRESS. Trials whose worker dies are retried; "
            "--resume continues a sweep whose driver died, running only unfinished trials."
        ),
    )
    p.add_argument("config", type=Path, help="sweep config (.json, .yaml, .yml)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in its folder")
    p.add_argument(
        "--address", default=None, help="Ray cluster address host:port (default: RAY_ADDRESS or local)"
    )
    p.add_argument(
        "--outputs",
        type=Path,
        default=Path("outputs/sweeps"),
        help="parent of the sweep folder (default outputs/sweeps)",
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _fmt(s: dict[str, float]) -> str:
    if math.isnan(s["ci_low"]):
        return f"{s['mean']:.4g}"
    return f"{s['mean']:.4g} [{s['ci_low']:.4g}, {s['ci_high']:.4g}]"


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run ``hal9 sweep``; exit code 0 when every trial finished, 1 when some failed."""
    from hal9.experiments.sweep import load_sweep_config, run_sweep

    config = load_sweep_config(args.config)
    progress = not args.no_progress and not args.json

    def log(line: str) -> None:
        if args.json:
            return
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    # Ray prints its workers' errors (e.g. "(raylet) A worker died …") on stdout; keep stdout for the
    # summary (JSON with --json) and send them to stderr
    with contextlib.redirect_stdout(sys.stderr):
        summary = run_sweep(
            config,
            out=args.outputs,
            resume=args.resume,
            address=args.address,
            tracking_uri=args.tracking_uri,
            mlflow=not args.no_mlflow,
            progress=progress,
            log=log,
        )
    if args.json:
        print(json.dumps(summary, default=float))
    else:
        print(
            f"sweep {summary['name']} ({summary['recipe']}): planned {summary['planned']}, "
            f"done {summary['done']}, retried {summary['retried']}, failed {summary['failed']}, "
            f"skipped {summary['skipped']} (finished before) in {summary['wall_s']:.1f} s"
        )
        for rec in summary["trials"]:
            if rec.get("status") != "done":
                error = rec.get("error", "not run")
                print(f"  trial {rec['index']} {rec['params']} seed {rec['seed']}: {error}")
        for row in summary["aggregate"][:20]:
            shown = ", ".join(f"{k} {_fmt(v)}" for k, v in list(row["metrics"].items())[:4])
            print(f"  {json.dumps(row['params'], sort_keys=True)} (n={row['n']}): {shown}")
        print(f"  folder {summary['sweep_dir']}; MLflow parent run {summary['parent_run_id']}")
    return 0 if summary["failed"] == 0 and summary["done"] == summary["planned"] else 1
