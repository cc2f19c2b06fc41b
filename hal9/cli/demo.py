"""``hal9 demo``: argument parsing and printing around :func:`hal9.experiments.demo.run_demo`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_demo_parser", "run_demo_command"]


def add_demo_parser(sub: Any) -> None:
    """Add ``demo`` to the CLI's subparsers."""
    demo = sub.add_parser(
        "demo",
        help="build a 9-layer hierarchy, drive L1, simulate, log to MLflow, write figures",
        description="Build a 9-layer designed hierarchy (ratio e, fan-in 32), drive L1 with a modulated "
        "input, "
        "simulate leaky rate neurons, log the run to MLflow and write figures to --outputs.",
    )
    demo.add_argument(
        "--neurons",
        type=int,
        default=100_000,
        help="total neurons: the designed sizes (ratio e) whose sum is closest (default 100000: 100,001)",
    )
    demo.add_argument("--steps", type=int, default=1000, help="simulation steps (default 1000)")
    demo.add_argument("--batch", type=int, default=1, help="independent input trials (default 1)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    demo.add_argument(
        "--outputs", type=Path, default=Path("outputs"), help="figure folder (default outputs/)"
    )
    demo.add_argument("--experiment", default="hal9-demo", help="MLflow experiment name")
    demo.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)"
    )
    demo.add_argument(
        "--no-figures", action="store_true", help="skip the figures (saves matplotlib's import and drawing)"
    )
    demo.add_argument(
        "--no-mlflow", action="store_true", help="skip the MLflow run (saves MLflow's import and logging)"
    )
    demo.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_demo_command(args: argparse.Namespace) -> int:
    """Run ``hal9 demo``; returns the exit code (2: bad input, reported on stderr)."""

    from hal9.experiments.demo import demo_config, format_summary, run_demo

    if args.neurons < 9:
        raise ValueError(f"--neurons must be >= 9 (one per layer), got {args.neurons}")
    cfg = demo_config(args.neurons, args.steps, args.batch, args.seed, args.device)
    summary = run_demo(
        cfg,
        outputs=None if args.no_figures else args.outputs,
        experiment=None if args.no_mlflow else args.experiment,
        tracking_uri=args.tracking_uri,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
