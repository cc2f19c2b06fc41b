"""``hal9 learn digits``: argument parsing and printing around :func:`hal9.experiments.learning.run_and_log`.

``--encoding`` offers :data:`hal9.learn.ENCODINGS`, ``--optimizer`` :data:`hal9.learn.OPTIMIZERS`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_learn_parser", "run_learn_command"]


def add_learn_parser(sub: Any) -> None:
    """Add ``learn digits`` to the CLI's subparsers."""
    from hal9.learn import ENCODINGS, OPTIMIZERS

    learn = sub.add_parser("learn", help="train spiking hierarchies with surrogate gradients")
    lsub = learn.add_subparsers(dest="learn_command", metavar="SUBCOMMAND")
    dig = lsub.add_parser(
        "digits",
        help="an LIF hierarchy on scikit-learn's 8x8 digits, one run per seed; test accuracy mean ± sd",
        description="Trains a LIF hierarchy (±1 connectivity, L1 = the 64 pixels) with surrogate gradients "
        "on a fixed stratified split of scikit-learn's digits, once per seed, and reports the test "
        "accuracy per seed, mean ± sd and a 95%% t interval; logs the curves to MLflow.",
    )
    dig.add_argument("--sizes", default="64,256,128", help="layer sizes, L1 first (L1 must be 64)")
    dig.add_argument("--seeds", type=int, default=5, help="number of seeds 0..k-1 (default 5)")
    dig.add_argument("--epochs", type=int, default=30)
    dig.add_argument("--steps", type=int, default=20, help="simulation steps per sample (default 20)")
    dig.add_argument("--batch-size", type=int, default=64)
    dig.add_argument("--lr", type=float, default=5e-3)
    dig.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    dig.add_argument("--encoding", choices=ENCODINGS, default="current")
    dig.add_argument("--tbptt", type=int, default=None, help="truncated BPTT window in steps")
    _add_run_options(dig, "hal9-learning")
    comp = lsub.add_parser(
        "compression",
        help="does a hierarchy trained with local rules compress better than random? (paired CIs)",
        description="Trains a linear rate hierarchy with Oja's subspace rule (or Sanger's) only, then "
        "measures what each boundary keeps (bias-corrected Gaussian MI, null-subtracted MI, reconstruction "
        "R²) against a random and a norm-matched random hierarchy of the same shape, paired over seeds.",
    )
    comp.add_argument(
        "--config", type=Path, default=None, help="JSON LearnedCompressionConfig (default: defaults)"
    )
    comp.add_argument("--seeds", type=int, default=None, help="number of seeds 0..k-1 (overrides the config)")
    _add_run_options(comp, "hal9-learned-compression")


def _add_run_options(parser: Any, experiment: str) -> None:
    """The output, MLflow and printing options every ``hal9 learn`` recipe takes."""
    parser.add_argument(
        "--outputs", type=Path, default=Path("outputs"), help="figure folder (default outputs/)"
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the figure")
    parser.add_argument("--experiment", default=experiment, help="MLflow experiment name")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    parser.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default: env or ./mlflow.db)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of a recipe's ``run_and_log`` from :func:`_add_run_options`' flags."""
    return {
        "outputs": None if args.no_figures else args.outputs,
        "experiment": None if args.no_mlflow else args.experiment,
        "tracking_uri": args.tracking_uri,
        "progress": not args.no_progress and not args.json,
    }


def run_learn_command(args: argparse.Namespace) -> int:
    """Run ``hal9 learn …``; returns the exit code (2: bad input or no subcommand)."""
    from hal9.experiments.learning import DigitsConfig, run_and_log
    from hal9.learn import TrainConfig

    command = getattr(args, "learn_command", None)
    if command == "compression":
        return _compression(args)
    if command != "digits":
        print("usage: hal9 learn {digits,compression} ...; see hal9 learn digits --help")
        return 2
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        raise ValueError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    if sizes[0] != 64:
        raise ValueError(f"--sizes must start with 64 (L1 receives the 8x8 pixels), got {sizes[0]}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    train = TrainConfig(
        epochs=args.epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        encoding=args.encoding,
        tbptt=args.tbptt,
    )
    cfg = DigitsConfig(sizes=sizes, train=train, seeds=tuple(range(args.seeds)))
    summary = run_and_log(cfg, **_run_options(args))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    lo, hi = summary["accuracy_ci95"]
    print(
        f"digits: {summary['neurons']:,} LIF neurons, {summary['synapses']:,} synapses, "
        f"{cfg.train.epochs} epochs x {len(cfg.seeds)} seeds ({summary['seconds']:.1f} s)"
    )
    for r in summary["seeds"]:
        print(f"  seed {r['seed']}: test accuracy {r['test_accuracy']:.4f}")
    print(
        f"  mean {summary['accuracy_mean']:.4f} ± {summary['accuracy_sd']:.4f} (sd), 95% CI "
        f"[{lo:.4f}, {hi:.4f}]; median epoch {summary['median_epoch_seconds']:.2f} s"
    )
    ml = summary["mlflow"]
    where = "not logged" if ml is None else ml["fallback_path"] or f"{ml['tracking_uri']} run {ml['run_id']}"
    print(f"  figures: {', '.join(summary['figures']) or 'none'}; MLflow: {where}")
    return 0


def _compression(args: argparse.Namespace) -> int:
    from hal9.experiments.learned_compression import LearnedCompressionConfig, run_and_log

    text = args.config.read_text() if args.config is not None else "{}"
    cfg = LearnedCompressionConfig.model_validate_json(text)
    if args.seeds is not None:
        cfg = LearnedCompressionConfig.model_validate({**cfg.model_dump(), "seeds": tuple(range(args.seeds))})
    summary = run_and_log(cfg, **_run_options(args))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(summary["answer"])
    return 0
