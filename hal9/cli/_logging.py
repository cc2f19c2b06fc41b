"""Shared MLflow step of the CLI subcommands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def log_run(
    experiment: str,
    *,
    config: Any,
    run_name: str,
    tracking_uri: str | None,
    metrics: Mapping[str, float],
    artifacts: Sequence[Path],
) -> dict[str, Any]:
    """Log ``config`` as params, ``metrics`` (one batch) and ``artifacts`` in one run (:mod:`hal9.tracking`).

    Returns the ``"mlflow"`` block of a CLI summary: tracking URI, run id, and the fallback folder when the
    backend was unreachable (else ``None``).
    """
    from hal9.tracking import start_run

    with start_run(experiment, config=config, run_name=run_name, tracking_uri=tracking_uri) as tr:
        tr.log_metrics(metrics)
        for path in artifacts:
            tr.log_artifact(path)
        return {
            "tracking_uri": tr.tracking_uri,
            "run_id": tr.run_id,
            "fallback_path": str(tr.fallback_path) if tr.is_fallback else None,
        }
