"""The PostgreSQL job queue: procrastinate, with the run row and its queue entry in one transaction.

`procrastinate <https://procrastinate.readthedocs.io>`_ (a PostgreSQL task queue on psycopg 3) stores
jobs in ``procrastinate_jobs``, hands each to one worker with ``SELECT … FOR UPDATE SKIP LOCKED``,
wakes workers with ``LISTEN/NOTIFY`` and records worker heartbeats in ``procrastinate_workers``. hal9
adds what the service needs on top of it:

* :func:`defer_run` inserts the queue entry on the connection of the transaction that inserts the run,
  so a ``202 Accepted`` means both exist (or neither does);
* :func:`recover_stalled` finds jobs whose worker stopped sending heartbeats (killed, frozen, cut off)
  and puts them back in the queue, up to ``HAL9_JOB_MAX_ATTEMPTS`` lost workers per run, then fails the
  run with that reason. It runs in every worker, under a PostgreSQL advisory lock, so two workers never
  recover the same job twice;
* :func:`build_app` registers the one task, ``hal9.serve.run(run_id)``, which calls
  :meth:`hal9.serve.execute.Executor.execute`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from hal9.serve.db import utcnow

if TYPE_CHECKING:
    import procrastinate

    from hal9.serve.execute import Executor

__all__ = [
    "QUEUE_NAME",
    "TASK_NAME",
    "Recovery",
    "build_app",
    "cancel_queued_job",
    "defer_run",
    "recover_stalled",
    "workers_seen",
]

_log = logging.getLogger("hal9.serve.queue")

QUEUE_NAME = "hal9"
TASK_NAME = "hal9.serve.run"
# Key of the advisory lock that serialises stalled-job recovery across all workers.
_RECOVERY_LOCK = 0x6861_6C39  # "hal9"

_STALLED_SQL = """
SELECT job.id AS job_id, job.args ->> 'run_id' AS run_id,
       r.status AS run_status, r.stalls AS stalls, r.kind AS kind
  FROM procrastinate_jobs job
  LEFT JOIN procrastinate_workers w ON w.id = job.worker_id
  LEFT JOIN runs r ON r.id = job.args ->> 'run_id'
 WHERE job.status = 'doing' AND job.queue_name = :queue
   AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => :stalled_s))
 ORDER BY job.id
 FOR UPDATE OF job SKIP LOCKED
"""


def _raw(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy connection (same transaction)."""
    return conn.connection.driver_connection


def defer_run(conn: Connection, run_id: str) -> int:
    """Queue run ``run_id`` inside the caller's transaction; returns the procrastinate job id.

    Uses procrastinate's own ``defer_jobs`` statement (its schema function) on the caller's psycopg
    connection, so the entry commits or rolls back with the run row.
    """
    from procrastinate import SyncPsycopgConnector, jobs, manager

    job = jobs.Job(
        queue=QUEUE_NAME,
        lock=None,
        queueing_lock=None,
        task_name=TASK_NAME,
        task_kwargs={"run_id": run_id},
    )
    # An unopened connector: only its ``*_with_connection`` statements run, on the caller's connection.
    deferred = manager.JobManager(SyncPsycopgConnector()).defer_job(job, connection=_raw(conn))
    assert deferred.id is not None
    return int(deferred.id)


def cancel_queued_job(conn: Connection, job_id: int) -> bool:
    """Cancel a job still waiting in the queue (``todo`` → ``cancelled``) in the caller's transaction."""
    row = conn.execute(
        text("SELECT procrastinate_cancel_job_v1(:job_id, false, false) AS id"), {"job_id": job_id}
    ).first()
    return row is not None and row.id is not None


def workers_seen(conn: Connection, window_s: float) -> int:
    """Workers whose last heartbeat is at most ``window_s`` seconds old."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM procrastinate_workers "
                "WHERE last_heartbeat >= now() - make_interval(secs => :w)"
            ),
            {"w": window_s},
        ).scalar_one()
    )


@dataclass(frozen=True)
class Recovery:
    """What one :func:`recover_stalled` pass did (run ids)."""

    retried: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    #: jobs whose run had already ended (only the queue's bookkeeping was lost)
    closed: tuple[str, ...] = ()
    #: ``False`` when another worker held the recovery lock
    ran: bool = True


def recover_stalled(engine: Engine, *, stalled_after_s: float, max_attempts: int) -> Recovery:
    """Re-queue the jobs of lost workers, in one transaction under an advisory lock.

    A job is stalled when it is ``doing`` and its worker row is gone or its heartbeat is older than
    ``stalled_after_s``. Its run then gets ``stalls + 1``: below ``max_attempts`` it goes back to
    ``queued`` (``retries + 1``) and the job to ``todo``; at ``max_attempts`` the run fails with the
    reason and the job is marked failed. A job whose run already ended is only closed.
    """
    retried: list[str] = []
    failed: list[str] = []
    closed: list[str] = []
    with engine.begin() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _RECOVERY_LOCK}).scalar():
            return Recovery(ran=False)
        conn.execute(text("SELECT procrastinate_prune_stalled_workers_v1(:s)"), {"s": stalled_after_s}).all()
        rows = conn.execute(text(_STALLED_SQL), {"queue": QUEUE_NAME, "stalled_s": stalled_after_s}).all()
        for row in rows:
            run_id = row.run_id
            if row.run_status not in ("queued", "running"):
                conn.execute(
                    text("SELECT procrastinate_finish_job_v1(:j, 'succeeded', false)"), {"j": row.job_id}
                )
                closed.append(run_id)
                continue
            stalls = int(row.stalls) + 1
            if stalls >= max_attempts:
                conn.execute(
                    text(
                        "UPDATE runs SET status = 'failed', stalls = :stalls, finished_at = :now, "
                        "lease_until = NULL, error = :error WHERE id = :id"
                    ),
                    {
                        "stalls": stalls,
                        "now": utcnow().replace(tzinfo=None),
                        "id": run_id,
                        "error": f"worker lost {stalls} times (HAL9_JOB_MAX_ATTEMPTS={max_attempts}); "
                        "last seen running on a worker whose heartbeat stopped",
                    },
                )
                conn.execute(
                    text("SELECT procrastinate_finish_job_v1(:j, 'failed', false)"), {"j": row.job_id}
                )
                failed.append(run_id)
            else:
                conn.execute(
                    text(
                        "UPDATE runs SET status = 'queued', stalls = :stalls, retries = retries + 1, "
                        "worker = NULL WHERE id = :id"
                    ),
                    {"stalls": stalls, "id": run_id},
                )
                conn.execute(
                    text("SELECT procrastinate_retry_job_v2(:j, now(), NULL, NULL, NULL)"), {"j": row.job_id}
                )
                retried.append(run_id)
    if retried or failed or closed:
        _log.warning(
            "recovered stalled jobs",
            extra={"retried": len(retried), "failed": len(failed), "closed": len(closed)},
        )
    return Recovery(tuple(retried), tuple(failed), tuple(closed))


def build_app(conninfo: str, executor: Executor) -> procrastinate.App:
    """A procrastinate app on ``conninfo`` whose task ``hal9.serve.run`` executes runs.

    procrastinate's pool checks each connection before use (connections killed by a database restart
    are replaced). :class:`~hal9.serve.execute.HandBack` and
    :class:`~hal9.serve.execute.OutcomeNotRecorded` re-queue the job (procrastinate retry, no limit:
    lost workers are bounded by :func:`recover_stalled`); any other failure was already recorded on the
    run by the executor, so the task itself succeeds.
    """
    import procrastinate

    from hal9.serve.execute import HandBack, OutcomeNotRecorded

    # procrastinate's pool already checks each connection before use (``check_connection``).
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=conninfo, min_size=1, max_size=4, kwargs={"application_name": "hal9-worker-queue"}
        )
    )
    retry = procrastinate.RetryStrategy(
        max_attempts=None, wait=1, retry_exceptions={HandBack, OutcomeNotRecorded}
    )

    @app.task(name=TASK_NAME, queue=QUEUE_NAME, retry=retry, pass_context=True)
    def run_job(context: procrastinate.JobContext, run_id: str) -> str:
        return executor.execute(run_id)

    return app
