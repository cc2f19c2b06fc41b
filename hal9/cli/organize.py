"""``hal9 organize``: argument parsing and printing around :mod:`hal9.experiments.organize`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, get_args

__all__ = ["add_organize_parser", "run_organize_command"]


def add_organize_parser(sub: Any) -> None:
    """Add ``organize`` to the CLI's subparsers (``--kernel`` choices from ``OrganizeConfig``)."""
    from hal9.experiments.options import kernel_names
    from hal9.selforg.reference import Kernel

    org = sub.add_parser(
        "organize",
        help="self-organize primordial neurons into an emergent, null-checked hierarchy "
        "(or run HAL9's reference work)",
    )
    org.add_argument("--neurons", type=int, default=10_000, help="primordial neurons N (default 10000)")
    org.add_argument("--k", type=int, default=16, help="partners kept per neuron (default 16)")
    mode = org.add_mutually_exclusive_group()
    mode.add_argument("--exact", dest="mode", action="store_const", const="exact", help="exact blocked top-k")
    mode.add_argument(
        "--approx",
        dest="mode",
        action="store_const",
        const="approx",
        help="approximate top-k (default above 20000 neurons)",
    )
    org.add_argument("--kernel", choices=kernel_names(), default="hal9")
    org.add_argument("--layers", type=int, default=None, help="force the number of layers (2..9)")
    org.add_argument("--null", type=int, default=3, help="null graphs per family (0: skip)")
    org.add_argument("--device", default="cpu")
    org.add_argument("--seed", type=int, default=0)
    org.add_argument(
        "--hal9-reference",
        action="store_true",
        help="run HAL9's reference benchmark work instead (every pair evaluated, and the exact sweep count)",
    )
    org.add_argument(
        "--pairs-kernel",
        choices=get_args(Kernel),
        default="auto",
        help="--hal9-reference all-pairs kernel (default auto: compiled from 100000 neurons on)",
    )
    org.add_argument("--outputs", type=Path, default=Path("outputs"), help="figure folder (default outputs/)")
    org.add_argument("--experiment", default="hal9-organize", help="MLflow experiment name")
    org.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)")
    org.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    org.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_organize_command(args: argparse.Namespace) -> int:
    """Run ``hal9 organize``; returns the exit code (2: bad input, reported on stderr)."""

    from hal9.experiments.organize import OrganizeConfig, ReferenceConfig, run_organize, run_reference

    summary: Any
    if args.hal9_reference:
        summary = run_reference(
            ReferenceConfig(neurons=args.neurons, device=args.device, kernel=args.pairs_kernel)
        )
    else:
        cfg = OrganizeConfig(
            neurons=args.neurons,
            k=args.k,
            mode=args.mode or "auto",
            kernel=args.kernel,
            n_layers=args.layers,
            n_null=args.null,
            seed=args.seed,
            device=args.device,
        )
        summary = run_organize(
            cfg,
            outputs=args.outputs,
            experiment=args.experiment,
            tracking_uri=args.tracking_uri,
            progress=not args.no_progress,
        )
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if summary.get("mode") == "hal9-reference":
        t, sw = summary["timings_s"], summary["sweep"]
        compiled = f", +{t['compile']:.3g} s compiling" if summary["kernel"] == "compiled" else ""
        print(
            f"HAL9 reference work, {summary['neurons']:,} neurons on {summary['device']}: "
            f"{summary['connections']:,} connections, layers {summary['layer_sizes']}, "
            f"{t['total']:.4g} s total ({t['connections']:.4g} s all pairs, "
            f"{summary['kernel']} kernel{compiled})"
        )
        print(
            f"  exact O(N log N) sweep: {sw['connections']:,} connections in {sw['seconds']:.4g} s "
            f"({'same count' if sw['agrees'] else 'DIFFERENT COUNT'})"
        )
        if not sw["agrees"]:
            print("hal9 organize: the all-pairs and sweep counts differ (a defect)", file=sys.stderr)
            return 1
        return 0
    print(
        f"{summary['neurons']:,} neurons, {summary['edges']:,} edges → {summary['n_layers']} emergent layers"
    )
    for row in summary["layers"]:
        print(
            f"  {row['layer']:<20} {row['size']:>8,}  speed {row['mean_speed']:.3f}  "
            f"complexity {row['mean_complexity']:.3f}"
        )
    print(f"  modularity {summary['modularity']:.4f}   ±1 violation {summary['pm1_violation']:.3g}")
    for key, s in summary.get("null", {}).items():
        stat = f"real {s['real']:.4g}  null {s['null_mean']:.4g} ± {s['null_sd']:.2g}  z {s['z']:.3g}"
        print(f"  null {key:<28} {stat}")
    print(f"  {summary['reason']}")
    print(f"  time {summary['timings_s']['total']:.3f} s, peak RSS {summary['peak_rss_mb']:.0f} MiB")
    print(f"  figures: {', '.join(summary['figures'])}")
    return 0
