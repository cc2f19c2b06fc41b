"""The MLflow step shared by the recipes (one run: config as params, one batch of metrics, artifacts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

__all__ = ["MlflowRef", "log_run"]


class MlflowRef(TypedDict):
    """Where a recipe's MLflow run went (the ``"mlflow"`` block of a summary)."""

    tracking_uri: str
    run_id: str
    #: The local folder the run was written to when the backend was unreachable, else ``None``.
    fallback_path: str | None


def log_run(
    experiment: str,
    *,
    config: Any,
    run_name: str,
    tracking_uri: str | None,
    metrics: Mapping[str, float],
    artifacts: Sequence[Path],
    series: Mapping[str, Sequence[float]] | None = None,
) -> MlflowRef:
    """Log ``config`` as params, ``metrics`` and ``series`` (one batch) and ``artifacts`` in one run
    (:mod:`hal9.tracking`).

    Parameters
    ----------
    experiment : str
        MLflow experiment name.
    config : pydantic model or mapping
        Flattened into params by :func:`hal9.tracking.start_run`.
    run_name : str
        MLflow run name.
    tracking_uri : str or None
        Backend; ``None``: the environment or ``./mlflow.db``.
    metrics : mapping of str to float
        Logged in one batch at step 0.
    artifacts : sequence of Path
        Files logged as artifacts.
    series : mapping of str to sequence of float, optional
        Metric curves, each logged at steps ``0 .. n-1`` (e.g. per epoch).

    Returns
    -------
    MlflowRef
        Tracking URI, run id, and the fallback folder when the backend was unreachable (else ``None``).
    """
    from hal9.tracking import start_run

    with start_run(experiment, run_name=run_name, tracking_uri=tracking_uri) as tr:
        tr.log_batch(params=config, metrics=metrics, series=series)
        for path in artifacts:
            tr.log_artifact(path)
        return {
            "tracking_uri": tr.tracking_uri,
            "run_id": tr.run_id,
            "fallback_path": str(tr.fallback_path) if tr.is_fallback else None,
        }
