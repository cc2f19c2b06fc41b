"""Executing one run, the same way in a `hal9 worker` process and in the API process (SQLite).

:meth:`Executor.execute` is the whole life of one attempt:

1. **claim** — in one transaction: a run that is ``queued`` (or ``running`` after its worker was lost)
   becomes ``running`` with ``attempts + 1``; a run that ended, or whose cancellation was requested,
   is not started (a cancelled one is marked ``cancelled``);
2. **run** the job kind with a :class:`Checkpoint`, which raises :class:`JobCancelled` once a
   cancellation is requested and :class:`HandBack` once the process is shutting down past its grace;
3. **track** the result in MLflow (:func:`hal9.tracking.start_run`);
4. **record** the outcome, retrying with exponential back-off for ``HAL9_JOB_OUTCOME_RETRY_S`` while the
   database is unreachable. The update applies only to the attempt that claimed the run (``attempts``
   matches), so a superseded attempt can never overwrite a newer one. If the database stays away,
   :class:`OutcomeNotRecorded` is raised and the queue runs the job again: a computed result is never
   dropped silently.

A hand-back puts the run back to ``queued`` (``retries + 1``) without counting a failure.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError

from hal9.serve.db import ACTIVE_STATUSES, runs, utcnow
from hal9.serve.jobs import JobContext, JobKind, JobRegistry, JobResult, json_safe
from hal9.serve.logging import request_id_var
from hal9.serve.metrics import ServeMetrics
from hal9.serve.settings import Settings

__all__ = [
    "Checkpoint",
    "Claim",
    "Executor",
    "HandBack",
    "JobCancelled",
    "OutcomeNotRecorded",
    "StopSignals",
    "claim_run",
    "record_outcome",
    "requeue_run",
    "retry_db",
    "worker_identity",
]

_log = logging.getLogger("hal9.serve.jobs")
_MAX_ERROR_CHARS = 500
T = TypeVar("T")


class JobCancelled(Exception):
    """Raised by a checkpoint of a run whose cancellation was requested."""


class HandBack(Exception):
    """Raised by a checkpoint when the process shuts down: the run goes back to the queue."""


class OutcomeNotRecorded(Exception):
    """The database stayed unreachable while a finished job tried to record its outcome."""


def worker_identity(role: str = "worker") -> str:
    """``role@host:pid``, stored in ``runs.worker`` (at most 128 characters)."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}"[:128]


def retry_db(fn: Callable[[], T], *, budget_s: float, what: str, extra: Mapping[str, Any] | None = None) -> T:
    """Call ``fn`` until it does not raise a database error, for at most ``budget_s`` seconds.

    Back-off: 0.1 s doubling to 5 s. Errors other than :class:`sqlalchemy.exc.DBAPIError` propagate at
    once; the last database error propagates when the budget is spent.
    """
    deadline = time.monotonic() + budget_s
    delay = 0.1
    while True:
        try:
            return fn()
        except DBAPIError as exc:
            if time.monotonic() + delay > deadline:
                raise
            _log.warning(
                f"database error while {what}; retrying in {delay:.1f} s",
                extra={**(extra or {}), "exc_type": type(exc.orig).__name__},
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclass
class StopSignals:
    """What one process tells its running jobs: runs cancelled here, and a hand-back deadline.

    ``handback_at`` is a :func:`time.monotonic` instant: checkpoints after it raise :class:`HandBack`.
    """

    cancelled: set[str] = field(default_factory=set)
    handback_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hand_back_after(self, grace_s: float) -> None:
        """Start the shut-down grace period: running jobs hand back at their first checkpoint after it."""
        with self._lock:
            deadline = time.monotonic() + grace_s
            self.handback_at = deadline if self.handback_at is None else min(self.handback_at, deadline)

    def handback_due(self) -> bool:
        """Whether the grace period has ended."""
        at = self.handback_at
        return at is not None and time.monotonic() >= at


class Checkpoint:
    """The ``checkpoint()`` of one attempt (see :class:`~hal9.serve.jobs.JobContext`).

    Parameters
    ----------
    engine : Engine
    run_id : str
    signals : StopSignals
    poll_s : float
        Minimum seconds between two reads of ``runs.cancel_requested`` (a lost read is skipped).
    """

    def __init__(self, engine: Engine, run_id: str, signals: StopSignals, poll_s: float) -> None:
        self._engine = engine
        self._run_id = run_id
        self._signals = signals
        self._poll_s = poll_s
        self._next_poll = time.monotonic() + poll_s
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self._signals.handback_due():
            raise HandBack("the worker is shutting down")
        if self._run_id in self._signals.cancelled:
            raise JobCancelled("cancelled by request")
        now = time.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + self._poll_s
        try:
            with self._engine.connect() as conn:
                flag = conn.execute(select(runs.c.cancel_requested).where(runs.c.id == self._run_id)).scalar()
        except DBAPIError:
            return  # the database is away: keep computing, the outcome is recorded later
        if flag:
            raise JobCancelled("cancelled by request")


@dataclass(frozen=True)
class Claim:
    """A run this process now executes (attempt number ``attempt``)."""

    run_id: str
    kind: str
    config: dict[str, Any]
    owner_id: int
    attempt: int
    request_id: str | None


def claim_run(engine: Engine, run_id: str, worker: str) -> Claim | None:
    """Mark run ``run_id`` running for a new attempt; ``None`` when it must not run.

    A run that already ended is left alone. A run whose cancellation was requested is marked
    ``cancelled`` here, so a cancelled queued job never starts.
    """
    with engine.begin() as conn:
        row = conn.execute(
            select(
                runs.c.kind,
                runs.c.config,
                runs.c.owner_id,
                runs.c.status,
                runs.c.attempts,
                runs.c.cancel_requested,
                runs.c.request_id,
            )
            .where(runs.c.id == run_id)
            .with_for_update()
        ).first()
        if row is None or row.status not in ACTIVE_STATUSES:
            return None
        if row.cancel_requested:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status="cancelled", error="cancelled by request", finished_at=utcnow())
            )
            return None
        attempt = int(row.attempts) + 1
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status="running", attempts=attempt, worker=worker, started_at=utcnow())
        )
    return Claim(run_id, row.kind, dict(row.config), int(row.owner_id), attempt, row.request_id)


def record_outcome(
    engine: Engine,
    run_id: str,
    attempt: int,
    status: str,
    result: dict[str, Any] | None,
    mlflow_run_id: str | None,
    error: str | None,
) -> bool:
    """Write the outcome of attempt ``attempt``; ``False`` when a newer attempt owns the run."""
    with engine.begin() as conn:
        done = conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.attempts == attempt, runs.c.status == "running")
            .values(
                status=status,
                result=result,
                mlflow_run_id=mlflow_run_id,
                error=error,
                finished_at=utcnow(),
                lease_until=None,
            )
        )
        return bool(done.rowcount)


def requeue_run(engine: Engine, run_id: str, attempt: int | None = None) -> bool:
    """Put a running run back to ``queued`` (``retries + 1``); only attempt ``attempt`` if given."""
    cond = [runs.c.id == run_id, runs.c.status == "running"]
    if attempt is not None:
        cond.append(runs.c.attempts == attempt)
    with engine.begin() as conn:
        done = conn.execute(
            update(runs)
            .where(*cond)
            .values(status="queued", retries=runs.c.retries + 1, worker=None, lease_until=None)
        )
        return bool(done.rowcount)


class Executor:
    """Runs claimed jobs of one process.

    Parameters
    ----------
    engine : Engine
    registry : JobRegistry
    settings : Settings
    metrics : ServeMetrics
        Job counters of this process.
    signals : StopSignals
    worker : str
        Identity written to ``runs.worker``.
    """

    def __init__(
        self,
        engine: Engine,
        registry: JobRegistry,
        settings: Settings,
        metrics: ServeMetrics,
        signals: StopSignals,
        worker: str,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.signals = signals
        self.worker = worker
        self._schemas = {k.name: k.schema(settings.limits) for k in registry}
        #: run id → attempt, of the attempts running now in this process
        self.active: dict[str, int] = {}

    def execute(self, run_id: str) -> str:
        """Claim, run, track and record run ``run_id``; returns the outcome.

        Outcomes: ``succeeded``, ``failed``, ``cancelled`` or ``skipped`` (nothing to run). Raises
        :class:`HandBack` after putting the run back to ``queued``, and :class:`OutcomeNotRecorded`.
        """
        s = self.settings
        claim = retry_db(
            lambda: claim_run(self.engine, run_id, self.worker),
            budget_s=s.job_outcome_retry_s,
            what="claiming a run",
            extra={"run_id": run_id},
        )
        if claim is None:
            return "skipped"
        self.active[run_id] = claim.attempt
        token = request_id_var.set(claim.request_id)
        try:
            return self._run_claimed(claim)
        finally:
            self.active.pop(run_id, None)
            request_id_var.reset(token)

    def _run_claimed(self, claim: Claim) -> str:
        s = self.settings
        if claim.kind not in self.registry:
            error = f"this worker does not know the job kind {claim.kind!r}"
            _log.error("unknown job kind", extra={"run_id": claim.run_id, "kind": claim.kind})
            retry_db(
                lambda: record_outcome(self.engine, claim.run_id, claim.attempt, "failed", None, None, error),
                budget_s=s.job_outcome_retry_s,
                what="recording a job outcome",
            )
            return "failed"
        kind = self.registry[claim.kind]
        extra: dict[str, Any] = {
            "request_id": claim.request_id,
            "run_id": claim.run_id,
            "kind": kind.name,
            "attempt": claim.attempt,
        }
        self.metrics.jobs_running.labels(kind.name).inc()
        t0 = time.perf_counter()
        _log.info("job started", extra=extra)
        checkpoint = Checkpoint(self.engine, claim.run_id, self.signals, s.job_cancel_poll_s)
        try:
            final = self._compute(kind, claim, checkpoint, extra)
        except HandBack:
            self.metrics.jobs_running.labels(kind.name).dec()
            retry_db(
                lambda: requeue_run(self.engine, claim.run_id, claim.attempt),
                budget_s=s.job_outcome_retry_s,
                what="handing a run back",
                extra=extra,
            )
            self.metrics.jobs_retried.labels(kind.name, "handed_back").inc()
            _log.info("job handed back to the queue", extra=extra)
            raise
        seconds = time.perf_counter() - t0
        self.metrics.jobs_running.labels(kind.name).dec()
        try:
            recorded = retry_db(
                lambda: record_outcome(self.engine, claim.run_id, claim.attempt, *final),
                budget_s=s.job_outcome_retry_s,
                what="recording a job outcome",
                extra=extra,
            )
        except DBAPIError as exc:
            _log.error("could not record the job outcome; the job will run again", extra=extra)
            raise OutcomeNotRecorded(str(exc.orig)) from exc
        if not recorded:
            _log.warning("outcome of a superseded attempt dropped", extra=extra)
            return "skipped"
        self.metrics.jobs_finished.labels(kind.name, final[0]).inc()
        self.metrics.job_duration.labels(kind.name).observe(seconds)
        _log.info("job finished", extra={**extra, "outcome": final[0], "duration_ms": seconds * 1000})
        return final[0]

    def _compute(
        self, kind: JobKind, claim: Claim, checkpoint: Checkpoint, extra: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None, str | None, str | None]:
        try:
            config = self._schemas[kind.name].model_validate(claim.config)
            checkpoint()
            result = kind.run(config, JobContext(claim.run_id, self.settings.job_device, checkpoint))
            checkpoint()
            mlflow_id = self._track(kind, config, result, claim)
        except HandBack:
            raise
        except JobCancelled:
            self.metrics.jobs_cancelled.labels(kind.name).inc()
            _log.info("job cancelled", extra=extra)
            return ("cancelled", None, None, "cancelled by request")
        except Exception as exc:
            _log.error("job failed", exc_info=exc, extra={**extra, "exc_type": type(exc).__name__})
            return ("failed", None, None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS])
        self.metrics.neuron_steps.inc(result.neuron_steps)
        if result.layers is not None:
            self.metrics.selforg_layers.set(result.layers)
        return ("succeeded", json_safe(result.summary), mlflow_id, None)

    def _track(self, kind: JobKind, config: Any, result: JobResult, claim: Claim) -> str:
        from hal9.tracking import start_run

        metrics: Mapping[str, float] = {
            k: float(v) for k, v in result.metrics.items() if v == v and abs(float(v)) != float("inf")
        }
        s = self.settings
        with start_run(
            f"{s.tracking_experiment}-{kind.name}",
            config=config,
            run_name=f"{kind.name}-{claim.run_id[:8]}",
            tags={
                "hal9.serve.run_id": claim.run_id,
                "hal9.serve.owner_id": claim.owner_id,
                "hal9.serve.kind": kind.name,
                "hal9.serve.attempt": claim.attempt,
                "hal9.serve.worker": self.worker,
            },
            tracking_uri=s.tracking_uri,
            fallback_dir=s.data_dir / "tracking-fallback",
        ) as tracked:
            if metrics:
                tracked.log_metrics(metrics)
            return tracked.run_id
