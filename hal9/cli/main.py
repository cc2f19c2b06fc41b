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
    met = sub.add_parser(
        "metrics",
        help="integration measures (Φ family, LZ, multi-information) of a time series or VAR(1) system, "
        "or the compression/CKA/LZ/Φ report of a simulated hierarchy",
    )
    src = met.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help=".npy time series (T, n), or .npz with A [+ noise_cov] or x")
    src.add_argument("--hierarchy", type=int, metavar="N", help="simulate the demo hierarchy of N neurons")
    met.add_argument("--steps", type=int, default=400, help="simulation steps with --hierarchy (default 400)")
    met.add_argument(
        "--noise", type=float, default=0.5, help="s.d. of noise added to L1 input with --hierarchy"
    )
    met.add_argument(
        "--measure",
        action="append",
        choices=["mi", "wms", "r", "si", "geometric", "star"],
        help="integration measure (repeatable; default wms)",
    )
    met.add_argument("--criterion", choices=["min", "normalised"], default="min", help="MIB criterion")
    met.add_argument(
        "--partition", default=None, help="fixed bipartition, e.g. '0,1|2,3' (default: MIB search)"
    )
    met.add_argument("--seed", type=int, default=0)
    met.add_argument("--outputs", type=Path, default=Path("outputs"), help="figure folder (default outputs/)")
    met.add_argument("--experiment", default="hal9-metrics", help="MLflow experiment name")
    met.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)")
    met.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
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
    org.add_argument("--kernel", choices=["hal9", "gaussian"], default="hal9")
    org.add_argument("--layers", type=int, default=None, help="force the number of layers (2..9)")
    org.add_argument("--null", type=int, default=3, help="null graphs per family (0: skip)")
    org.add_argument("--device", default="cpu")
    org.add_argument("--seed", type=int, default=0)
    org.add_argument(
        "--hal9-reference", action="store_true", help="run HAL9's reference benchmark work instead"
    )
    org.add_argument("--outputs", type=Path, default=Path("outputs"), help="figure folder (default outputs/)")
    org.add_argument("--experiment", default="hal9-organize", help="MLflow experiment name")
    org.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)")
    org.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    org.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    from hal9.cli.serve import add_serve_parser, add_worker_parser
    from hal9.cli.tactical import add_tactical_parser

    add_tactical_parser(sub)
    add_serve_parser(sub)
    add_worker_parser(sub)
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


def _metrics(args: argparse.Namespace) -> int:
    from hal9.cli.metrics import parse_partition, run_metrics

    try:
        if args.hierarchy is not None and args.hierarchy < 9:
            raise ValueError(f"--hierarchy must be >= 9 neurons, got {args.hierarchy}")
        if args.noise < 0:
            raise ValueError(f"--noise must be >= 0, got {args.noise}")
        if args.steps < 2:
            raise ValueError(f"--steps must be >= 2, got {args.steps}")
        summary = run_metrics(
            input_path=args.input,
            hierarchy=args.hierarchy,
            steps=args.steps,
            measures=args.measure or ["wms"],
            partition=parse_partition(args.partition),
            criterion=args.criterion,
            seed=args.seed,
            outputs=args.outputs,
            noise=args.noise,
            experiment=args.experiment,
            tracking_uri=args.tracking_uri,
        )
    except ValueError as exc:
        print(f"hal9 metrics: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_metrics(summary)
    return 0


def _print_metrics(summary: dict) -> None:
    inp = summary["input"]
    print(f"hal9 metrics: {inp['kind']} " + ", ".join(f"{k}={v}" for k, v in inp.items() if k != "kind"))
    for m, r in summary.get("measures", {}).items():
        part = "|".join(",".join(map(str, p)) for p in r["partition"])
        print(
            f"  {m:<10} {r['value_nats']:.6g} nats  partition {part}  ({r['method']}, "
            f"{r['partitions_evaluated']} bipartitions, {r['seconds']:.3f} s)"
        )
    for key in ("lempel_ziv_mean", "multi_information_nats", "cka_adjacent_mean", "cka_non_adjacent_mean"):
        if key in summary:
            print(f"  {key:<24} {summary[key]:.4g}")
    if isinstance(summary.get("lempel_ziv"), dict):
        print("  LZ76 (normalised): " + "  ".join(f"{k} {v:.3f}" for k, v in summary["lempel_ziv"].items()))
    for b in summary.get("boundaries", []):
        pair = f"L{b['lower'] + 1}-L{b['upper'] + 1}"
        print(
            f"  {pair}: width {b['width_ratio']:.3f}  PR ratio {b['pr_ratio']:.3f}  "
            f"MI {b['mutual_information']:.3g} nats (null {b['mi_surrogate']:.3g})  "
            f"R² {b['reconstruction_r2']:.3f}"
        )
    if summary.get("phi_error"):
        print(f"  Φ not computed: {summary['phi_error']}")
    if summary.get("phi"):
        phi = summary["phi"]
        print(f"  Φ ({phi['measure']}) on neurons {phi['neurons']}: {phi['value']:.4g} nats")
    print(f"  figures: {', '.join(summary['figures']) or 'none'}")
    ml = summary["mlflow"]
    print(f"  MLflow: {ml['fallback_path'] or ml['tracking_uri'] + ' run ' + ml['run_id']}")


def _organize(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from hal9.cli.organize import run_organize, run_reference

    try:
        if args.hal9_reference:
            summary = run_reference(args.neurons, args.device)
        else:
            from hal9.selforg.organizer import OrganizeConfig

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
    except (ValueError, ValidationError) as exc:
        print(f"hal9 organize: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if summary.get("mode") == "hal9-reference":
        t = summary["timings_s"]
        print(
            f"HAL9 reference work, {summary['neurons']:,} neurons on {summary['device']}: "
            f"{summary['connections']:,} connections, layers {summary['layer_sizes']}, "
            f"{t['total']:.4g} s total ({t['connections']:.4g} s pairs)"
        )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        return _version(args.json)
    if args.command == "demo":
        return _demo(args)
    if args.command == "metrics":
        return _metrics(args)
    if args.command == "organize":
        return _organize(args)
    if args.command == "tactical":
        from hal9.cli.tactical import run_tactical

        return run_tactical(args)
    if args.command == "serve":
        from hal9.cli.serve import run_serve

        return run_serve(args)
    if args.command == "worker":
        from hal9.cli.serve import run_worker_command

        return run_worker_command(args)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
