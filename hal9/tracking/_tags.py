"""Tags recorded automatically on every run: versions, device and git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from typing import Any

import torch

from hal9.tracking._values import MAX_TAG_VALUE_LENGTH, truncate

__all__ = ["default_tags", "device_name", "git_commit", "render_tags"]


def device_name() -> str:
    """Name of the compute device: the CUDA device name if CUDA is available, else ``cpu (<processor>)``.

    Examples
    --------
    >>> device_name()  # doctest: +SKIP
    'NVIDIA H100 80GB HBM3'
    """
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.cuda.current_device())
    processor = platform.processor() or platform.machine() or "unknown"
    return f"cpu ({processor})"


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """Return ``git rev-parse HEAD`` in ``cwd`` (default: the working directory), or ``None`` if that fails.

    ``None`` covers: git not installed, not a repository, a repository without commits, a timeout (5 s).
    """
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=os.fspath(cwd) if cwd is not None else os.getcwd(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def default_tags() -> dict[str, str]:
    """Tags set on every run: ``hal9.version``, ``torch.version``, ``device`` and, if known, ``git.commit``.

    The commit is also written to ``mlflow.source.git.commit`` and the script name to
    ``mlflow.source.name``, which the MLflow UI shows on the run page.

    Examples
    --------
    >>> default_tags()["torch.version"]  # doctest: +SKIP
    '2.13.0+cpu'
    """
    from hal9 import __version__

    tags = {
        "hal9.version": __version__,
        "torch.version": str(torch.__version__),
        "device": device_name(),
    }
    commit = git_commit()
    if commit is not None:
        tags["git.commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    source = _source_name()
    if source:
        tags["mlflow.source.name"] = source
    return tags


def _source_name() -> str:
    import sys

    argv0 = sys.argv[0] if sys.argv else ""
    return os.path.basename(argv0) if argv0 not in ("", "-c") else ""


def render_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Stringify tag values and truncate them to MLflow's 8000-character limit.

    Raises
    ------
    ValueError
        If a tag key is not a non-empty string.
    """
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"tag key must be a non-empty string, got {key!r}")
        out[key] = truncate(str(value), MAX_TAG_VALUE_LENGTH)
    return out
