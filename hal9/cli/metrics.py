"""``hal9 metrics``: argument parsing and printing around :func:`hal9.experiments.metrics_report.run_metrics`.

``--measure`` and ``--criterion`` offer the names :mod:`hal9.metrics` declares (read through
:mod:`hal9.experiments.options`), so the CLI holds no list of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_metrics_parser", "format_metrics", "parse_partition", "run_metrics_command"]


#: ``MetricsReportConfig`` field → the flag that sets it (for error messages).
def _criterion(value: str) -> str:
    """``--criterion``: an old spelling is mapped to the new one, with a note on stderr."""
    from hal9.experiments.options import criterion_aliases as aliases

    new = aliases().get(value)
    if new is None:
        return value
    print(f"hal9 metrics: --criterion {value} is deprecated; use --criterion {new}", file=sys.stderr)
    return new


def add_metrics_parser(sub: Any) -> None:
    """Add ``metrics`` to the CLI's subparsers."""
    from hal9.experiments.options import criterion_names, measure_names

    met = sub.add_parser(
        "metrics",
        help="integration measures (Φ family, LZ, multi-information) of a time series or VAR(1) system, "
        "or the compression/CKA/LZ/Φ report of a simulated hierarchy",
    )
    src = met.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help=".npy time series (T, n), or .npz with A [+ noise_cov] or x")
    src.add_argument("--hierarchy", type=int, metavar="N", help="simulate the demo hierarchy of N neurons")
    src.add_argument(
        "--tpm",
        type=Path,
        help="exact IIT 3.0 (as PyPhi 1.2.0) of a binary network: TPM as .npy/.csv/.txt, "
        "or .json with tpm [+ cm, state]",
    )
    met.add_argument("--state", default=None, help="with --tpm: the network's state, e.g. 1,0,0")
    met.add_argument(
        "--cm", type=Path, default=None, help="with --tpm: connectivity matrix file (default all-to-all)"
    )
    met.add_argument(
        "--nodes", default=None, help="with --tpm: the subsystem's nodes, e.g. 0,2 (default all)"
    )
    met.add_argument(
        "--complexes", action="store_true", help="with --tpm: also every complex and the major complex"
    )
    met.add_argument("--device", default="cpu", help="with --tpm: torch device (cpu, cuda)")
    met.add_argument("--steps", type=int, default=400, help="simulation steps with --hierarchy (default 400)")
    met.add_argument(
        "--noise", type=float, default=0.5, help="s.d. of noise added to L1 input with --hierarchy"
    )
    met.add_argument(
        "--measure",
        action="append",
        choices=measure_names(),
        help="integration measure (repeatable; default wms); Φ_WMS can be negative",
    )
    met.add_argument(
        "--criterion",
        type=_criterion,
        choices=criterion_names(),
        default="min",
        help="MIB criterion ('normalised' is accepted until hal9 0.2.0)",
    )
    met.add_argument(
        "--partition",
        default=None,
        help="fixed partition, e.g. '0,1|2,3' or '0|1|2' (default: MIB search over bipartitions)",
    )
    met.add_argument("--seed", type=int, default=0)
    met.add_argument("--outputs", type=Path, default=Path("outputs"), help="figure folder (default outputs/)")
    met.add_argument("--experiment", default="hal9-metrics", help="MLflow experiment name")
    met.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)")
    met.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def parse_partition(text: str | None) -> tuple[tuple[int, ...], ...] | None:
    """``"0,1|2,3"`` → ``((0, 1), (2, 3))``; ``"0|1|2"`` → ``((0,), (1,), (2,))`` (any ``K ≥ 2`` parts);
    ``None`` → ``None``.

    Raises
    ------
    ValueError
        Naming ``--partition``, unless ``text`` is two or more non-empty comma-separated integer lists
        joined by ``|`` (whether they cover the nodes is checked with the system's size).

    Examples
    --------
    >>> parse_partition("0,2|1,3")
    ((0, 2), (1, 3))
    >>> parse_partition("0|1|2")
    ((0,), (1,), (2,))
    """
    if text is None:
        return None
    usage = f"--partition must look like '0,1|2,3' (two or more parts), got {text!r}"
    parts = text.split("|")
    if len(parts) < 2:
        raise ValueError(usage)
    try:
        out = tuple(tuple(int(i) for i in p.split(",") if i.strip()) for p in parts)
    except ValueError as exc:
        raise ValueError(usage) from exc
    if any(not p for p in out):
        raise ValueError(usage)
    return out


def format_metrics(summary: Any) -> str:
    """The text report of a :class:`~hal9.experiments.metrics_report.MetricsSummary`.

    Every line that shows a Φ_WMS value is followed by the summary's notes (``note: …``), once.
    """
    notes = [f"  note: {n}" for n in summary.get("notes", [])]
    inp = summary["input"]
    lines = [f"hal9 metrics: {inp['kind']} " + ", ".join(f"{k}={v}" for k, v in inp.items() if k != "kind")]

    def add_notes() -> None:
        lines.extend(notes)
        notes.clear()

    for m, r in summary.get("measures", {}).items():
        part = "|".join(",".join(map(str, p)) for p in r["partition"])
        lines.append(
            f"  {m:<10} {r['value_nats']:.6g} nats  partition {part}  ({r['method']}, "
            f"{r['partitions_evaluated']} bipartitions, {r['seconds']:.3f} s)"
        )
        if m == "wms":
            add_notes()
    for key in ("lempel_ziv_mean", "multi_information_nats", "cka_adjacent_mean", "cka_non_adjacent_mean"):
        if key in summary:
            lines.append(f"  {key:<24} {summary[key]:.4g}")
    if isinstance(summary.get("lempel_ziv"), dict):
        lines.append(
            "  LZ76 (normalised): " + "  ".join(f"{k} {v:.3f}" for k, v in summary["lempel_ziv"].items())
        )
    for b in summary.get("boundaries", []):
        pair = f"L{b['lower'] + 1}-L{b['upper'] + 1}"
        lines.append(
            f"  {pair}: width {b['width_ratio']:.3f}  PR ratio {b['pr_ratio']:.3f}  "
            f"MI {b['mutual_information']:.3g} nats (null {b['mi_surrogate']:.3g})  "
            f"R² {b['reconstruction_r2']:.3f}"
        )
    if summary.get("phi_error"):
        lines.append(f"  Φ not computed: {summary['phi_error']}")
    if summary.get("phi"):
        phi = summary["phi"]
        lines.append(f"  Φ ({phi['measure']}) on neurons {phi['neurons']}: {phi['value']:.4g} nats")
        if phi["measure"] == "wms":
            add_notes()
    add_notes()  # notes about values not shown on a line of their own
    lines.append(f"  figures: {', '.join(summary['figures']) or 'none'}")
    ml = summary["mlflow"]
    if ml is None:
        lines.append("  MLflow: not logged")
    else:
        lines.append(f"  MLflow: {ml['fallback_path'] or ml['tracking_uri'] + ' run ' + ml['run_id']}")
    return "\n".join(lines)


def _int_list(text: str | None, flag: str) -> tuple[int, ...] | None:
    """``"1,0,0"`` → ``(1, 0, 0)``; ``None`` → ``None``; anything else is a ``ValueError`` naming ``flag``."""
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.replace(" ", "").split(",") if x != "")
    except ValueError:
        raise ValueError(f"{flag}: expected comma-separated integers, e.g. 1,0,0; got {text!r}") from None


def _run_iit(args: argparse.Namespace) -> int:
    from hal9.experiments.iit_report import IITReportConfig, format_iit, run_iit

    cfg = IITReportConfig(
        tpm=args.tpm,
        cm=args.cm,
        state=_int_list(args.state, "--state"),
        nodes=_int_list(args.nodes, "--nodes"),
        complexes=args.complexes,
        device=args.device,
    )
    summary = run_iit(cfg, outputs=args.outputs, experiment=args.experiment, tracking_uri=args.tracking_uri)
    print(json.dumps(summary, indent=2) if args.json else format_iit(summary))
    return 0


def run_metrics_command(args: argparse.Namespace) -> int:
    """Run ``hal9 metrics``; returns the exit code (2: bad input, reported on stderr)."""
    if getattr(args, "tpm", None) is not None:
        return _run_iit(args)

    from hal9.experiments.metrics_report import MetricsReportConfig, run_metrics

    options: dict[str, Any] = {}
    if args.measure:
        options["measures"] = tuple(args.measure)
    cfg = MetricsReportConfig(
        input=args.input,
        hierarchy=args.hierarchy,
        steps=args.steps,
        noise=args.noise,
        criterion=args.criterion,
        partition=parse_partition(args.partition),
        seed=args.seed,
        **options,
    )
    summary = run_metrics(
        cfg, outputs=args.outputs, experiment=args.experiment, tracking_uri=args.tracking_uri
    )
    print(json.dumps(summary, indent=2) if args.json else format_metrics(summary))
    return 0
