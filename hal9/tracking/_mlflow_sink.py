"""The MLflow side of a run: one ``MlflowClient`` bound to one run, no global (fluent) MLflow state."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal9.tracking._backend import artifact_location, fast_http_failure, is_user_error, probe_backend
from hal9.tracking._values import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
    chunks,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["DeletedExperimentError", "MlflowSink", "get_or_create_experiment"]


class DeletedExperimentError(ValueError):
    """The experiment exists in the store but is deleted, so MLflow refuses new runs in it."""


def get_or_create_experiment(client: MlflowClient, name: str, location: str | None = None) -> str:
    """Return the id of the active experiment ``name``, creating it (artifacts at ``location``) if missing.

    Raises
    ------
    DeletedExperimentError
        If the experiment exists but is deleted (MLflow refuses new runs in it).
    """
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:  # another process created it between the two calls
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise DeletedExperimentError(
            f"experiment {name!r} (id {experiment.experiment_id}) is deleted; restore it with "
            f"MlflowClient({client.tracking_uri!r}).restore_experiment({experiment.experiment_id!r}) "
            "or use another name"
        )
    return experiment.experiment_id


class MlflowSink:
    """Send a run's data to MLflow with batched calls.

    Parameters
    ----------
    client : MlflowClient
        Client bound to the tracking URI.
    run_id, experiment_id : str
        The run created by :meth:`create`.
    """

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @classmethod
    def create(
        cls,
        tracking_uri: str,
        experiment: str,
        run_name: str | None,
        tags: Mapping[str, str],
        start_time_ms: int,
        resume_run_id: str | None = None,
    ) -> MlflowSink:
        """Create the experiment if needed and a new run in it, with ``tags`` (or reopen the run
        ``resume_run_id`` of that experiment, marked RUNNING again)."""
        from mlflow import MlflowClient
        from mlflow.entities import RunTag

        client = MlflowClient(tracking_uri=tracking_uri)
        experiment_id = get_or_create_experiment(
            client, experiment, artifact_location(tracking_uri, experiment)
        )
        if resume_run_id is not None:
            run = client.get_run(resume_run_id)
            if run.info.experiment_id != experiment_id:
                raise ValueError(
                    f"run_id {resume_run_id!r} belongs to another experiment than {experiment!r}"
                )
            client.update_run(resume_run_id, status="RUNNING")
            if tags:
                client.log_batch(resume_run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            return cls(client, resume_run_id, experiment_id)
        run = client.create_run(experiment_id, start_time=start_time_ms, tags=dict(tags), run_name=run_name)
        return cls(client, run.info.run_id, experiment_id)

    @classmethod
    def try_create(
        cls,
        tracking_uri: str,
        experiment: str,
        run_name: str | None,
        tags: Mapping[str, str],
        start_time_ms: int,
        resume_run_id: str | None = None,
    ) -> tuple[MlflowSink | None, str]:
        """Probe the backend, then :meth:`create` with fast HTTP failure.

        Returns ``(sink, "")``, or ``(None, reason)`` when the backend cannot be used. Invalid input
        (a deleted experiment, ``INVALID_PARAMETER_VALUE``) raises instead.
        """
        reason = probe_backend(tracking_uri)
        if reason is not None:
            return None, reason
        try:
            with fast_http_failure(tracking_uri):
                return cls.create(tracking_uri, experiment, run_name, tags, start_time_ms, resume_run_id), ""
        except ValueError:  # a deleted experiment, a run of another experiment: the caller's input
            raise
        except Exception as exc:
            if is_user_error(exc):
                raise
            return None, f"{type(exc).__name__}: {exc}"

    def log_batch(
        self,
        params: Mapping[str, str],
        metrics: Sequence[tuple[str, float, int, int]],
        tags: Mapping[str, str],
    ) -> None:
        """Log with as few ``log_batch`` calls as MLflow's limits allow.

        MLflow accepts at most 100 params, 100 tags, 1000 metrics and 1000 entities in all per call. Params
        and tags are sent 100 + 100 per call, metrics 1000 per call; the first metric chunk shares the last
        params/tags call when it fits. So ``log_batch`` is called once when the input fits in one call.
        """
        from mlflow.entities import Metric, Param, RunTag

        param_chunks = chunks([Param(k, v) for k, v in params.items()], MAX_PARAMS_TAGS_PER_BATCH)
        tag_chunks = chunks([RunTag(k, v) for k, v in tags.items()], MAX_PARAMS_TAGS_PER_BATCH)
        calls: list[list[Any]] = [
            [list(p), list(t), []] for p, t in itertools.zip_longest(param_chunks, tag_chunks, fillvalue=())
        ]
        for chunk in chunks([Metric(k, v, t, s) for k, v, s, t in metrics], MAX_METRICS_PER_BATCH):
            if (
                calls
                and not calls[-1][2]
                and len(calls[-1][0]) + len(calls[-1][1]) + len(chunk) <= MAX_ENTITIES_PER_BATCH
            ):
                calls[-1][2] = list(chunk)
            else:
                calls.append([[], [], list(chunk)])
        for call_params, call_tags, call_metrics in calls:
            self.client.log_batch(self.run_id, metrics=call_metrics, params=call_params, tags=call_tags)

    def log_artifact(self, local_path: Path, artifact_path: str | None) -> None:
        """Upload a file, or a directory as ``<artifact_path>/<dirname>/``."""
        if local_path.is_dir():
            sub = f"{artifact_path}/{local_path.name}" if artifact_path else local_path.name
            self.client.log_artifacts(self.run_id, str(local_path), artifact_path=sub)
        else:
            self.client.log_artifact(self.run_id, str(local_path), artifact_path=artifact_path)

    def finish(self, status: str, end_time_ms: int) -> None:
        """Mark the run terminated with ``status``."""
        self.client.set_terminated(self.run_id, status=status, end_time=end_time_ms)

    def try_finish(self, status: str, end_time_ms: int) -> None:
        """Best effort :meth:`finish` after a failure: probe first, fail fast, never raise."""
        try:
            if probe_backend(self.client.tracking_uri) is None:
                with fast_http_failure(self.client.tracking_uri):
                    self.finish(status, end_time_ms)
        except Exception:  # the backend already failed once; the fallback folder has the data
            pass
