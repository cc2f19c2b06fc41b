"""``compare_runs``: the MLflow UI's run comparison as a pandas DataFrame, for notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hal9.tracking._backend import backend_client

if TYPE_CHECKING:
    import pandas

__all__ = ["child_runs", "compare_runs"]

_BASE_COLUMNS = ["run_id", "run_name", "status", "start_time"]
_PAGE = 1000


def compare_runs(
    experiment: str,
    *,
    tracking_uri: str | None = None,
    metrics: Sequence[str] | None = None,
    params: Sequence[str] | None = None,
    max_results: int = 100,
) -> pandas.DataFrame:
    """Tabulate the runs of an experiment: one row per run, newest first.

    Parameters
    ----------
    experiment : str
        Experiment name.
    tracking_uri : str, optional
        Backend to read; default :func:`~hal9.tracking.default_tracking_uri`.
    metrics : sequence of str, optional
        Metric columns to include (``metrics.<name>``, the last logged value); default all. A metric a
        run lacks is NaN.
    params : sequence of str, optional
        Param columns to include (``params.<name>``, strings); default all. Missing params are ``None``.
    max_results : int, default 100
        At most this many runs (the newest).

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id, run_name, status, start_time`` (UTC timestamps), then ``params.*`` and
        ``metrics.*`` in the requested order (sorted by name when all are shown).

    Raises
    ------
    ValueError
        If no experiment of that name exists, or ``max_results < 1``.
    ConnectionError
        If the backend cannot be reached (there is no fallback for reading).

    Notes
    -----
    Runs deleted in the UI are not listed. Runs that fell back to a local folder are not in MLflow and
    do not appear. Uses ``MlflowClient.search_runs``, ``ceil(max_results / 1000)`` requests.

    Examples
    --------
    >>> from hal9.tracking import compare_runs
    >>> df = compare_runs("sweep-fan-in", metrics=["phi"], params=["connectivity.fan_in"])  # doctest: +SKIP
    >>> df.sort_values("metrics.phi").tail(3)  # doctest: +SKIP
    """
    import pandas as pd

    if max_results < 1:
        raise ValueError(f"max_results must be at least 1, got {max_results}")
    with backend_client(tracking_uri, "read runs") as (client, uri):
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ValueError(f"no experiment named {experiment!r} at {uri}")
        runs = _search(client, found.experiment_id, max_results)

    param_names = list(params) if params is not None else sorted({k for r in runs for k in r.data.params})
    metric_names = list(metrics) if metrics is not None else sorted({k for r in runs for k in r.data.metrics})
    rows: list[dict[str, Any]] = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "start_time": run.info.start_time,
        }
        row.update({f"params.{k}": run.data.params.get(k) for k in param_names})
        row.update({f"metrics.{k}": run.data.metrics.get(k, float("nan")) for k in metric_names})
        rows.append(row)
    columns = _BASE_COLUMNS + [f"params.{k}" for k in param_names] + [f"metrics.{k}" for k in metric_names]
    frame = pd.DataFrame(rows, columns=columns)
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms", utc=True)
    for name in metric_names:
        frame[f"metrics.{name}"] = frame[f"metrics.{name}"].astype("float64")
    return frame


def child_runs(parent_run_id: str, *, tracking_uri: str | None = None) -> list[dict[str, Any]]:
    """The child runs of a run (those tagged ``mlflow.parentRunId = parent_run_id``), oldest first.

    Returns
    -------
    list of dict
        ``run_id``, ``status``, ``tags``, ``params`` and ``metrics`` (last values) of each child.

    Raises
    ------
    ValueError
        If the parent run does not exist.
    ConnectionError
        If the backend cannot be reached.
    """
    from mlflow.exceptions import MlflowException

    with backend_client(tracking_uri, "read runs") as (client, uri):
        try:
            parent = client.get_run(parent_run_id)
        except MlflowException as exc:
            raise ValueError(f"no run {parent_run_id!r} at {uri}") from exc
        quoted = parent_run_id.replace("'", "")
        runs = _search(
            client, parent.info.experiment_id, 10**9, f"tags.mlflow.parentRunId = '{quoted}'", "ASC"
        )
    return [
        {
            "run_id": r.info.run_id,
            "status": r.info.status,
            "tags": dict(r.data.tags),
            "params": dict(r.data.params),
            "metrics": dict(r.data.metrics),
        }
        for r in runs
    ]


def _search(
    client: Any, experiment_id: str, max_results: int, filter_string: str = "", order: str = "DESC"
) -> list[Any]:
    runs: list[Any] = []
    token: str | None = None
    while len(runs) < max_results:
        page = client.search_runs(
            [experiment_id],
            filter_string=filter_string,
            max_results=min(_PAGE, max_results - len(runs)),
            order_by=[f"attributes.start_time {order}"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    return runs
