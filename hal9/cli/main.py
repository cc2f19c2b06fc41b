"""Entry point of the ``hal9`` console script.

Each subcommand lives in its own module (``demo``, ``metrics``, ``organize``, ``tactical``, ``serve``): it
adds its arguments, builds the recipe's config (:mod:`hal9.experiments`), runs it and prints the summary
(text, or JSON with ``--json``). Bad input exits with status 2 and one ``hal9 <command>: error: …`` line on
stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

#: Config fields whose flag is not ``--<field>``.
_FIELD_FLAGS = {"n_layers": "--layers", "n_null": "--null", "measures": "--measure"}
#: Subcommands whose bad input and refused work end in one line and status 2 (serve/worker report their own).
_ONE_LINE_COMMANDS = ("demo", "learn", "metrics", "organize", "sweep", "tactical")


def _parser() -> argparse.ArgumentParser:
    from hal9.cli.demo import add_demo_parser
    from hal9.cli.learn import add_learn_parser
    from hal9.cli.metrics import add_metrics_parser
    from hal9.cli.organize import add_organize_parser
    from hal9.cli.serve import add_serve_parser, add_worker_parser
    from hal9.cli.sweep import add_sweep_parser
    from hal9.cli.tactical import add_tactical_parser

    parser = argparse.ArgumentParser(
        prog="hal9", description="hal9: hierarchical neuron layers L1..L9 as tensors, tracked in MLflow."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the hal9 version (and torch, device)").add_argument(
        "--json", action="store_true", help="print as JSON"
    )
    add_demo_parser(sub)
    add_learn_parser(sub)
    add_metrics_parser(sub)
    add_organize_parser(sub)
    add_sweep_parser(sub)
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
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    print(json.dumps(info) if as_json else f"hal9 {__version__} (torch {torch.__version__})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code.

    For ``demo``, ``metrics``, ``organize`` and ``tactical``, ``--outputs`` and ``--tracking-uri`` are
    checked before any work, and bad input or refused work (a network that cannot fit in memory, a file
    that is not what it claims) ends with one ``hal9 <command>: error: …`` line naming the flag and exit
    status 2 (``HAL9_DEBUG=1``: the traceback instead).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        return _version(args.json)
    if args.command not in _ONE_LINE_COMMANDS:
        return _dispatch(parser, args)
    from pydantic import ValidationError

    from hal9.cli.errors import check_outputs, check_tracking_uri, flags_of, one_line

    try:
        if getattr(args, "outputs", None) is not None:
            check_outputs(args.outputs)
        check_tracking_uri(getattr(args, "tracking_uri", None))
        return _dispatch(parser, args)
    except (ValidationError, ValueError, OSError) as exc:
        if os.environ.get("HAL9_DEBUG", "") not in ("", "0"):
            raise
        flags = {**flags_of(parser), **_FIELD_FLAGS}
        print(f"hal9 {args.command}: error: {one_line(exc, flags)}", file=sys.stderr)
        return 2


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "demo":
        from hal9.cli.demo import run_demo_command

        return run_demo_command(args)
    if args.command == "learn":
        from hal9.cli.learn import run_learn_command

        return run_learn_command(args)
    if args.command == "metrics":
        from hal9.cli.metrics import run_metrics_command

        return run_metrics_command(args)
    if args.command == "organize":
        from hal9.cli.organize import run_organize_command

        return run_organize_command(args)
    if args.command == "sweep":
        from hal9.cli.sweep import run_sweep_command

        return run_sweep_command(args)
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


def console_main() -> int:
    """The ``hal9`` command: :func:`main`, then ``gc.freeze()`` before the interpreter exits.

    At exit CPython's last collections traverse every object torch and MLflow created (0.65–1.3 s
    measured after a demo); frozen objects are skipped, which cut the demo's fixed cost by ~1.9 s
    (8.6 → 6.7 s at 10k neurons, 7.7 → 5.8 s at 100k, interleaved runs). Only for the process's own
    exit: in-process callers of :func:`main` keep a normal collector.
    """
    import gc

    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
