"""``hal9 serve``: the authenticated HTTP service (argument parsing only; FastAPI is imported lazily)."""

from __future__ import annotations

import argparse
from typing import Any


def add_serve_parser(sub: Any) -> None:
    """Add the ``serve`` subcommand to the CLI's subparsers (no heavy imports here)."""
    sub.add_parser("serve", help="run the authenticated hal9 HTTP service (needs the 'serve' extra)")


def run_serve(args: argparse.Namespace) -> int:
    """Run ``hal9 serve``; returns the exit code."""
    raise NotImplementedError("hal9 serve is being built (issue 6)")
