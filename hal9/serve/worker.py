"""A bounded pool of job worker threads.

``job_workers`` threads execute jobs; at most ``job_queue_limit`` more wait. A submission beyond that is
refused *before* anything is written (the route answers 503 with ``Retry-After``), so the service never
grows an unbounded queue or spawns threads per request. Each job runs in its own transactions
(``running`` → ``succeeded``/``failed``), is logged to MLflow through :func:`hal9.tracking.start_run`,
and its log lines carry the request id of the submission.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, update

from hal9.serve.db import runs, utcnow
from hal9.serve.jobs import JobContext, JobKind, JobResult, json_safe
from hal9.serve.logging import request_id_var
from hal9.serve.metrics import ServeMetrics
from hal9.serve.settings import Settings

__all__ = ["JobRunner"]

_log = logging.getLogger("hal9.serve.jobs")
_MAX_ERROR_CHARS = 500


class JobRunner:
    """Executes jobs on ``settings.job_workers`` threads with a bounded waiting room.

    Parameters
    ----------
    engine : Engine
    settings : Settings
    metrics : ServeMetrics
    """

    def __init__(self, engine: Engine, settings: Settings, metrics: ServeMetrics) -> None:
        self._engine = engine
        self._settings = settings
        self._metrics = metrics
        self._capacity = settings.job_workers + settings.job_queue_limit
        self._pending = 0
        self._lock = threading.Lock()
        self._futures: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=settings.job_workers, thread_name_prefix="hal9-job")

    @property
    def pending(self) -> int:
        """Jobs accepted and not finished (queued + running)."""
        return self._pending

    def reserve(self) -> bool:
        """Take one slot of the pool; ``False`` when workers and queue are full."""
        with self._lock:
            if self._pending >= self._capacity:
                return False
            self._pending += 1
            return True

    def release(self) -> None:
        """Give back a slot taken by :meth:`reserve` (a job that was not submitted, or finished)."""
        with self._lock:
            self._pending = max(0, self._pending - 1)

    def submit(self, run_id: str, kind: JobKind, config: BaseModel, owner_id: int) -> None:
        """Queue the job of run ``run_id`` (its row must be committed, with status ``queued``)."""
        self._metrics.jobs_queued.labels(kind.name).inc()
        request_id = request_id_var.get()
        future = self._pool.submit(self._execute, run_id, kind, config, owner_id, request_id)
        self._futures[run_id] = future
        future.add_done_callback(lambda _f: self._futures.pop(run_id, None))

    def shutdown(self) -> None:
        """Cancel queued jobs (marked failed), wait for running ones, stop the threads."""
        for run_id, future in list(self._futures.items()):
            if future.cancel():
                self._finish(run_id, "failed", None, None, "server shut down before the job started")
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _execute(
        self, run_id: str, kind: JobKind, config: BaseModel, owner_id: int, request_id: str | None
    ) -> None:
        token = request_id_var.set(request_id)
        extra: dict[str, Any] = {"request_id": request_id, "run_id": run_id, "kind": kind.name}
        self._metrics.jobs_queued.labels(kind.name).dec()
        self._metrics.jobs_running.labels(kind.name).inc()
        t0 = time.perf_counter()
        released = False
        try:
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        update(runs)
                        .where(runs.c.id == run_id, runs.c.status == "queued")
                        .values(status="running", started_at=utcnow())
                    )
                _log.info("job started", extra=extra)
                result = kind.run(config, JobContext(run_id=run_id, device=self._settings.job_device))
                mlflow_id = self._track(kind, config, result, run_id, owner_id)
                final: tuple[str, dict[str, Any] | None, str | None, str | None] = (
                    "succeeded",
                    json_safe(result.summary),
                    mlflow_id,
                    None,
                )
                self._metrics.neuron_steps.inc(result.neuron_steps)
                if result.layers is not None:
                    self._metrics.selforg_layers.set(result.layers)
            except Exception as exc:
                _log.error("job failed", exc_info=exc, extra={**extra, "exc_type": type(exc).__name__})
                final = ("failed", None, None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS])
            # Metrics and the log line first: once the row says finished, a client sees them too.
            seconds = time.perf_counter() - t0
            self._metrics.jobs_running.labels(kind.name).dec()
            self._metrics.jobs_finished.labels(kind.name, final[0]).inc()
            self._metrics.job_duration.labels(kind.name).observe(seconds)
            _log.info("job finished", extra={**extra, "outcome": final[0], "duration_ms": seconds * 1000})
            self.release()
            released = True
            try:
                self._finish(run_id, *final)
            except Exception as db_exc:  # the database is gone: nothing more to record
                _log.error("could not record the job outcome", exc_info=db_exc, extra=extra)
        finally:
            if not released:
                self.release()
            request_id_var.reset(token)

    def _track(self, kind: JobKind, config: BaseModel, result: JobResult, run_id: str, owner_id: int) -> str:
        from hal9.tracking import start_run

        metrics: Mapping[str, float] = {
            k: float(v) for k, v in result.metrics.items() if v == v and abs(float(v)) != float("inf")
        }
        with start_run(
            f"{self._settings.tracking_experiment}-{kind.name}",
            config=config,
            run_name=f"{kind.name}-{run_id[:8]}",
            tags={"hal9.serve.run_id": run_id, "hal9.serve.owner_id": owner_id, "hal9.serve.kind": kind.name},
            tracking_uri=self._settings.tracking_uri,
            fallback_dir=self._settings.data_dir / "tracking-fallback",
        ) as tracked:
            if metrics:
                tracked.log_metrics(metrics)
            return tracked.run_id

    def _finish(
        self,
        run_id: str,
        status: str,
        result: dict[str, Any] | None,
        mlflow_run_id: str | None,
        error: str | None,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    result=result,
                    mlflow_run_id=mlflow_run_id,
                    error=error,
                    finished_at=utcnow(),
                )
            )
