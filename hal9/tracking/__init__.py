"""Experiment tracking: a thin, typed layer over MLflow.

``import hal9`` does not import this package, and importing it does not import MLflow; MLflow is
imported the first time a run is started or compared.

* :func:`start_run` opens a :class:`TrackedRun` (a context manager) that logs params (a flattened
  config), metrics, metric series, tags, figures and arrays with batched ``MlflowClient`` calls.
* If the backend cannot be reached, the run writes to ``./.hal9_fallback/<experiment>/<time>-<id>/``
  instead and issues one :class:`Hal9TrackingWarning`; the computation is never stopped by tracking.
* :func:`compare_runs` returns the runs of an experiment as a pandas DataFrame.
* :func:`flatten_config` turns a nested pydantic config into dotted MLflow params.

The default backend is ``sqlite:///<cwd>/mlflow.db`` (:func:`default_tracking_uri`); browse it with
``mlflow ui --backend-store-uri sqlite:///mlflow.db`` from the same directory. See ``docs/tracking.md``.

Examples
--------
>>> from hal9.tracking import start_run
>>> with start_run("demo", config={"lr": 0.01}, tags={"purpose": "doc"}) as run:  # doctest: +SKIP
...     run.log_metrics({"loss": 0.5}, step=0)
...     run.log_metric_series("rate", [1.0, 2.0, 3.0])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pydantic

from hal9.tracking._backend import check_tracking_uri, default_tracking_uri
from hal9.tracking._compare import child_runs, compare_runs
from hal9.tracking._fallback import Hal9TrackingWarning
from hal9.tracking._flatten import flatten_config
from hal9.tracking._run import TrackedRun
from hal9.tracking._tags import default_tags, render_tags

__all__ = [
    "Hal9TrackingWarning",
    "TrackedRun",
    "check_tracking_uri",
    "child_runs",
    "compare_runs",
    "default_tracking_uri",
    "end_run",
    "flatten_config",
    "start_run",
]


def start_run(
    experiment: str,
    *,
    config: pydantic.BaseModel | Mapping[str, Any] | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    fallback_dir: str | os.PathLike[str] | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
) -> TrackedRun:
    """Start a tracked run in ``experiment`` (created if missing) and log ``config`` as its params.

    Parameters
    ----------
    experiment : str
        Experiment name.
    config : pydantic.BaseModel or Mapping, optional
        Logged as params via :func:`flatten_config`, with one ``log_batch`` call per 100 params.
    run_name : str, optional
        Run name shown in the UI; MLflow picks a random one by default.
    tags : Mapping[str, Any], optional
        Extra tags (values converted with ``str``). Always set: ``hal9.version``, ``torch.version``,
        ``device`` (CUDA device name, else ``cpu (<processor>)``), and ``git.commit`` when
        ``git rev-parse HEAD`` works in the working directory. User tags win on a name clash.
    tracking_uri : str, optional
        Backend; default :func:`default_tracking_uri`. ``http(s)://`` servers, ``sqlite:///`` files and
        SQLAlchemy database URIs (``postgresql://user@host:5432/db``) are probed quickly (about 2 s) first.
    fallback_dir : str or PathLike, optional
        Root of local fallback folders; default ``./.hal9_fallback``.
    parent_run_id : str, optional
        Make this a child run of that run (the ``mlflow.parentRunId`` tag: the UI nests it there).
    run_id : str, optional
        Reopen this existing run of ``experiment`` (marked RUNNING again, only ``tags`` added: its
        provenance tags stay) instead of creating one, as ``mlflow.start_run(run_id=…)`` does; e.g. a
        resumed sweep's parent run. There is no local fallback for a reopened run: ``ConnectionError``
        when the backend cannot be reached or the run does not exist.

    Returns
    -------
    TrackedRun
        An active run; end it with ``with`` (FAILED if the block raises, KILLED on ``KeyboardInterrupt``,
        else FINISHED) or with :meth:`TrackedRun.end`.

    Raises
    ------
    ValueError
        If ``experiment`` is empty, the config cannot be flattened, or the experiment is deleted.

    Warns
    -----
    Hal9TrackingWarning
        Once per run, if the backend cannot be used and results go to the fallback folder.

    Examples
    --------
    >>> from hal9.tracking import start_run
    >>> with start_run("fan-in-sweep", config=cfg, run_name="fan_in=8") as run:  # doctest: +SKIP
    ...     result = hal9.run(network, inputs)
    ...     run.log_metrics({"phi": phi(result)}, step=0)
    ...     run.log_figure(raster_figure(result), "raster.png")
    """
    if not isinstance(experiment, str) or not experiment.strip():
        raise ValueError(f"experiment must be a non-empty string, got {experiment!r}")
    params = flatten_config(config) if config is not None else {}
    # a reopened run keeps the provenance tags it was created with (version, commit, device)
    all_tags = (
        render_tags(tags or {}) if run_id is not None else {**default_tags(), **render_tags(tags or {})}
    )
    if parent_run_id is not None:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = TrackedRun(
        experiment,
        tracking_uri=tracking_uri or default_tracking_uri(),
        run_name=run_name,
        tags=all_tags,
        fallback_dir=fallback_dir,
        run_id=run_id,
    )
    if params:
        run.log_params(params)
    return run


def end_run(run_id: str, status: str = "FINISHED", *, tracking_uri: str | None = None) -> None:
    """Mark an existing run terminated with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``), e.g. a
    run a dead process left RUNNING; its data and tags are not touched.

    Raises
    ------
    ValueError
        An unknown ``status``.
    ConnectionError
        The backend cannot be reached.
    """
    from hal9.tracking._backend import backend_client

    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise ValueError(f"status must be FINISHED, FAILED or KILLED, got {status!r}")
    with backend_client(tracking_uri, f"end run {run_id}") as (client, _):
        client.set_terminated(run_id, status=status)
