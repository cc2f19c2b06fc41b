"""Entry point of the ``hal9`` console script."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hal9", description="hal9: hierarchical neuron layers L1..L9 as tensors, tracked in MLflow."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the hal9 version (and torch, device)").add_argument(
        "--json", action="store_true", help="print as JSON"
    )
    demo = sub.add_parser(
        "demo",
        help="build a 9-layer hierarchy, drive L1, simulate, log to MLflow, write figures",
        description="Build a 9-layer designed hierarchy (ratio e, fan-in 32), drive L1 with a modulated "
        "input, "
        "simulate leaky rate neurons, log the run to MLflow and write figures to --outputs.",
    )
    demo.add_argument("--neurons", type=int, default=100_000, help="total neurons (default 100000)")
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
    demo.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _version(as_json: bool) -> int:
    import platform

    import torch

    from hal9 import __version__

    info = {
        "hal9": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    print(json.dumps(info) if as_json else f"hal9 {__version__} (torch {torch.__version__})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from hal9.cli.demo import demo_config, format_summary, run_demo

    try:
        if args.neurons < 9:
            raise ValueError(f"--neurons must be >= 9 (one per layer), got {args.neurons}")
        cfg = demo_config(args.neurons, args.steps, args.batch, args.seed, args.device)
    except (ValueError, ValidationError) as exc:
        print(f"hal9 demo: error: {exc}", file=sys.stderr)
        return 2
    summary = run_demo(
        cfg,
        outputs=args.outputs,
        experiment=args.experiment,
        tracking_uri=args.tracking_uri,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        return _version(args.json)
    if args.command == "demo":
        return _demo(args)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
