"""``hal9 tactical``: L4 tactical coordination simulations."""

from __future__ import annotations

import argparse
from typing import Any


def add_tactical_parser(sub: Any) -> None:
    """Add the ``tactical`` subcommand to the CLI's subparsers."""
    sub.add_parser("tactical", help="simulate L4 tactical coordination of tasks on L3 units")


def run_tactical(args: argparse.Namespace) -> int:
    """Run ``hal9 tactical``; returns the exit code."""
    raise NotImplementedError("hal9 tactical is being built (issue 5)")
