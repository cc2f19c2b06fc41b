"""``TrackedRun``: one MLflow run, or its local fallback folder when the backend cannot be reached."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pydantic
import torch

from hal9.tracking._backend import fast_http_failure, is_user_error
from hal9.tracking._fallback import FallbackSink, Hal9TrackingWarning, fallback_run_dir, new_local_id
from hal9.tracking._flatten import flatten_config
from hal9.tracking._helpers import (
    Sink,
    check_step,
    new_params,
    redact,
    saved_array,
    saved_figure,
    user_stacklevel,
)
from hal9.tracking._mlflow_sink import MlflowSink
from hal9.tracking._tags import render_tags
from hal9.tracking._values import MetricValue, now_ms, to_metric_value, to_series, validate_key

__all__ = ["TrackedRun"]

_STATUSES = ("FINISHED", "FAILED", "KILLED")


class TrackedRun:
    """A tracking run: params, metrics, tags and artifacts of one experiment run.

    Create it with :func:`hal9.tracking.start_run`; use it as a context manager, or call :meth:`end`.
    Data goes to MLflow through an ``MlflowClient`` bound to this run (no global MLflow state). If the
    backend cannot be reached when the run starts, or fails later, the run switches to a local folder
    (:attr:`fallback_path`) and issues one :class:`Hal9TrackingWarning`; the computation goes on.

    Notes
    -----
    Not thread-safe. Invalid input raises ``ValueError``; any other backend error triggers the fallback.
    If an http(s) server dies mid-run, the first failing call retries for about 10 s (3 retries, unless
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` / ``_TIMEOUT`` are set); later calls are local.

    Examples
    --------
    >>> from hal9.tracking import start_run
    >>> with start_run("demo", config={"lr": 0.01}) as run:  # doctest: +SKIP
    ...     for step in range(3):
    ...         run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    """

    def __init__(
        self,
        experiment: str,
        *,
        tracking_uri: str,
        run_name: str | None,
        tags: Mapping[str, str],
        fallback_dir: str | os.PathLike[str] | None,
        run_id: str | None = None,
    ) -> None:
        self._experiment = experiment
        self._tracking_uri = tracking_uri
        self._run_name = run_name
        self._fallback_dir = fallback_dir
        self._local_id = new_local_id()
        self._start_ms = now_ms()
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = dict(tags)
        self._mlflow: MlflowSink | None = None
        self._fallback: FallbackSink | None = None
        self._status: str | None = None
        self._mlflow, reason = MlflowSink.try_create(
            tracking_uri, experiment, run_name, tags, self._start_ms, run_id
        )
        if self._mlflow is None and run_id is not None:
            # a local folder cannot continue an MLflow run: the caller must know (e.g. a resumed sweep)
            raise ConnectionError(f"cannot reopen run {run_id} at {redact(tracking_uri)}: {reason}")
        if self._mlflow is None:
            self._switch_to_fallback(f"the backend could not be reached ({reason})")

    @property
    def run_id(self) -> str:
        """The MLflow run id, or a local id when no MLflow run was created."""
        return self._mlflow.run_id if self._mlflow is not None else self._local_id

    @property
    def experiment_id(self) -> str | None:
        """The MLflow experiment id, or ``None`` when the experiment could not be reached."""
        return self._mlflow.experiment_id if self._mlflow is not None else None

    @property
    def experiment(self) -> str:
        """The experiment name."""
        return self._experiment

    @property
    def tracking_uri(self) -> str:
        """The tracking URI this run was started with."""
        return self._tracking_uri

    @property
    def is_fallback(self) -> bool:
        """Whether data goes to the local fallback folder instead of MLflow."""
        return self._fallback is not None

    @property
    def fallback_path(self) -> Path | None:
        """The local fallback folder, or ``None`` while logging to MLflow."""
        return self._fallback.path if self._fallback is not None else None

    def log_params(self, params: pydantic.BaseModel | Mapping[str, Any]) -> None:
        """Log parameters, flattened with :func:`~hal9.tracking.flatten_config`, in one batched call.

        Raises
        ------
        ValueError
            If a parameter was already logged with a different value (MLflow parameters are immutable;
            re-logging the same value is a no-op).

        Examples
        --------
        >>> run.log_params({"optimizer": {"name": "adam", "lr": 3e-4}})  # doctest: +SKIP
        """
        new = new_params(self._params, flatten_config(params))
        if new:
            self._params.update(new)
            self._dispatch(lambda sink: sink.log_batch(new, (), {}))

    def log_metrics(self, metrics: Mapping[str, MetricValue], step: int = 0) -> None:
        """Log several metrics at one ``step`` with one ``log_batch`` call (per 1000 metrics).

        Values may be Python or NumPy numbers or one-element arrays/tensors; NaN and infinities are kept.

        Raises
        ------
        ValueError
            Naming the key, for an empty or invalid key or a non-numeric value.

        Examples
        --------
        >>> run.log_metrics({"loss": loss_tensor, "rate_hz": 12.5}, step=epoch)  # doctest: +SKIP
        """
        rows = _metric_rows(metrics, check_step(step), now_ms())
        if rows:
            self._dispatch(lambda sink: sink.log_batch({}, rows, {}))

    def log_metric_series(
        self,
        name: str,
        values: Sequence[float] | np.ndarray | torch.Tensor,
        steps: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    ) -> None:
        """Log a whole series of one metric, batched (``ceil(n / 1000)`` calls, never one per value).

        Parameters
        ----------
        name : str
            Metric key.
        values : sequence of float, ndarray or Tensor, shape (n,)
            The values, e.g. a recorded firing rate per time step.
        steps : sequence of int, ndarray or Tensor, shape (n,), optional
            Step of each value; default ``0 .. n-1``.

        Examples
        --------
        >>> run.log_metric_series("L1.rate", result.rates[:, 0].mean(-1))  # doctest: +SKIP
        """
        rows = _series_rows(name, values, steps, now_ms())
        if rows:
            self._dispatch(lambda sink: sink.log_batch({}, rows, {}))

    def log_batch(
        self,
        *,
        params: pydantic.BaseModel | Mapping[str, Any] | None = None,
        metrics: Mapping[str, MetricValue] | None = None,
        series: Mapping[str, Sequence[float] | np.ndarray | torch.Tensor] | None = None,
        step: int = 0,
    ) -> None:
        """Log params, metrics at ``step`` and whole metric series together, in as few calls as possible.

        The same as :meth:`log_params`, :meth:`log_metrics` and :meth:`log_metric_series` (steps
        ``0 .. n-1``) one after the other, but sent as one MLflow ``log_batch`` call when MLflow's limits
        allow it (≤ 100 params and ≤ 1000 entities in all; larger inputs are split as
        ``MlflowSink.log_batch`` describes). Everything is validated before anything is sent.

        Raises
        ------
        ValueError
            As the three methods do, naming the key (a logged param changed, a bad metric or series).

        Examples
        --------
        >>> run.log_batch(params=cfg, metrics={"run_s": 0.6}, series={"rate.L1": rates})  # doctest: +SKIP
        """
        new = new_params(self._params, flatten_config(params)) if params is not None else {}
        timestamp = now_ms()
        rows = _metric_rows(metrics or {}, check_step(step), timestamp)
        for name, values in (series or {}).items():
            rows += _series_rows(name, values, None, timestamp)
        if new or rows:
            self._params.update(new)
            self._dispatch(lambda sink: sink.log_batch(new, rows, {}))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (values converted with ``str``, cut to 8000 characters) in one batched call."""
        rendered = render_tags(tags)
        self._tags.update(rendered)
        if rendered:
            self._dispatch(lambda sink: sink.log_batch({}, (), rendered))

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Store a file (or a directory tree) as an artifact of the run, under ``artifact_path``.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        """
        local = Path(path)
        if not local.exists():
            raise FileNotFoundError(f"artifact {local} does not exist")
        self._dispatch(lambda sink: sink.log_artifact(local, artifact_path))

    def log_figure(self, figure: Any, filename: str, **savefig_kwargs: Any) -> None:
        """Save a matplotlib figure (``figure.savefig``) and store it as an artifact.

        Parameters
        ----------
        figure : matplotlib.figure.Figure
            Anything with a ``savefig(path, **kwargs)`` method.
        filename : str
            Artifact name, possibly with folders (``figures/raster.png``); ``.png`` is appended when there
            is no suffix, and the suffix chooses the format.
        **savefig_kwargs
            Passed to ``savefig`` (``dpi=150``, ``bbox_inches="tight"``).

        Examples
        --------
        >>> run.log_figure(fig, "figures/rates.png", dpi=150)  # doctest: +SKIP
        """
        with saved_figure(figure, filename, savefig_kwargs) as (local, folder):
            self._dispatch(lambda sink: sink.log_artifact(local, folder))

    def log_array(self, name: str, array: np.ndarray | torch.Tensor | Sequence[Any]) -> None:
        """Store an array (or tensor, moved to CPU) as a ``.npy`` artifact, readable with ``np.load``.

        Examples
        --------
        >>> run.log_array("weights/L2", net.weights[1])  # doctest: +SKIP
        """
        with saved_array(array, name) as (local, folder):
            self._dispatch(lambda sink: sink.log_artifact(local, folder))

    def end(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``); later calls do nothing.

        A run that switched to its fallback folder mid-run also tries, once and quickly, to mark its
        incomplete MLflow run ``FAILED``.
        """
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}, got {status!r}")
        if self._status is not None:
            return
        end_ms = now_ms()
        self._dispatch(lambda sink: sink.finish(status, end_ms), ending=True)
        if self._mlflow is not None and self._fallback is not None:
            self._mlflow.try_finish("FAILED", end_ms)
        self._status = status

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.end("FINISHED")
        else:
            self.end("KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED")

    def __repr__(self) -> str:
        where = f"uri={self._tracking_uri!r}"
        if self._fallback is not None:
            where = f"fallback_path={str(self._fallback.path)!r}"
        return f"TrackedRun(experiment={self._experiment!r}, run_id={self.run_id!r}, {where})"

    def _dispatch(self, action: Callable[[Sink], None], *, ending: bool = False) -> None:
        if self._status is not None and not ending:
            raise RuntimeError(f"run {self.run_id} has ended ({self._status}); start a new one")
        if self._mlflow is not None and self._fallback is None:
            try:
                with fast_http_failure(self._tracking_uri, setup=False):
                    action(self._mlflow)
                return
            except Exception as exc:
                if is_user_error(exc):
                    raise ValueError(str(exc)) from exc
                self._switch_to_fallback(f"the backend failed during the run ({type(exc).__name__}: {exc})")
        assert self._fallback is not None
        action(self._fallback)

    def _switch_to_fallback(self, reason: str) -> None:
        path = fallback_run_dir(self._fallback_dir, self._experiment, self._local_id)
        meta = {
            "experiment": self._experiment,
            "run_name": self._run_name,
            "status": "RUNNING",
            "start_time": self._start_ms,
            "tracking_uri": redact(self._tracking_uri),
            "reason": reason,
            "mlflow_run_id": self._mlflow.run_id if self._mlflow is not None else None,
        }
        self._fallback = FallbackSink(path, meta)
        self._fallback.log_batch(self._params, (), self._tags)
        warnings.warn(
            f"hal9.tracking: MLflow tracking at {redact(self._tracking_uri)} is not used for experiment "
            f"{self._experiment!r} because {reason}. Params, metrics and artifacts of this run are written "
            f"to {self._fallback.path} instead.",
            Hal9TrackingWarning,
            stacklevel=user_stacklevel(),
        )


def _metric_rows(
    metrics: Mapping[str, MetricValue], step: int, timestamp: int
) -> list[tuple[str, float, int, int]]:
    """``(key, value, step, timestamp)`` rows of ``metrics``, keys and values checked."""
    return [
        (validate_key(k, what="metric"), to_metric_value(k, v), step, timestamp) for k, v in metrics.items()
    ]


def _series_rows(
    name: str,
    values: Sequence[float] | np.ndarray | torch.Tensor,
    steps: Sequence[int] | np.ndarray | torch.Tensor | None,
    timestamp: int,
) -> list[tuple[str, float, int, int]]:
    """One row per value of a metric series (steps ``0 .. n-1`` unless given), checked."""
    validate_key(name, what="metric")
    vals, st = to_series(name, values, steps)
    return [(name, v, s, timestamp) for v, s in zip(vals.tolist(), st.tolist(), strict=True)]
