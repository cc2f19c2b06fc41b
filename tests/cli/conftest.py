"""Helpers for the CLI tests: run ``hal9`` as a real subprocess with a clean tracking environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_hal9(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m hal9.cli.main ARGS`` in ``cwd`` (so MLflow writes ``cwd/mlflow.db``), 300 s limit."""
    env = {k: v for k, v in os.environ.items() if k not in ("HAL9_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    return subprocess.run(
        [sys.executable, "-m", "hal9.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
