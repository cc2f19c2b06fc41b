"""In-process execution (the embedded default on SQLite): job threads inside each API process.

``HAL9_JOB_WORKERS`` threads per process execute jobs through the same
:class:`~hal9.serve.execute.Executor` as `hal9 worker`; at most ``HAL9_JOB_QUEUE_LIMIT`` more wait, and
a submission beyond that is refused before anything is written (503 with ``Retry-After``).

Runs are held with a **lease**: the process that accepted a run writes its identity to ``runs.worker``
and renews ``runs.lease_until`` every ``HAL9_WORKER_HEARTBEAT_S`` (to ``HAL9_WORKER_STALLED_AFTER_S``
ahead). Every process also adopts runs whose lease expired — those of a killed or restarted process —
up to its free capacity, so accepted work survives ``kill -9``, restarts and a second instance on the
same database, none of which touches a run held by a live lease. A run adopted while ``running`` counts
a lost worker (``stalls``); at ``HAL9_JOB_MAX_ATTEMPTS`` it fails with that reason.

Shut-down is bounded: queued runs stay ``queued`` with their lease released (the next process adopts
them at once), running jobs get ``HAL9_WORKER_SHUTDOWN_GRACE_S`` to finish, then hand back at their
next checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import Engine, and_, or_, select, update

from hal9.serve.db import ACTIVE_STATUSES, runs, utcnow
from hal9.serve.execute import Executor, HandBack, OutcomeNotRecorded, StopSignals, worker_identity
from hal9.serve.jobs import JobRegistry
from hal9.serve.metrics import ServeMetrics
from hal9.serve.settings import Settings

__all__ = ["InProcessRunner"]

_log = logging.getLogger("hal9.serve.jobs")
_HARD_MARGIN_S = 5.0


class InProcessRunner:
    """Executes this process's runs on ``settings.job_workers`` threads.

    Parameters
    ----------
    engine : Engine
    registry : JobRegistry
    settings : Settings
    metrics : ServeMetrics
    """

    def __init__(
        self, engine: Engine, registry: JobRegistry, settings: Settings, metrics: ServeMetrics
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._metrics = metrics
        self.identity = worker_identity("api")
        self.signals = StopSignals()
        self.executor = Executor(engine, registry, settings, metrics, self.signals, self.identity)
        self._capacity = settings.job_workers + settings.queue_limit
        self._pending = 0
        self._lock = threading.Lock()
        self._futures: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=settings.job_workers, thread_name_prefix="hal9-job")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- capacity --------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Runs accepted by this process and not finished (queued + running)."""
        return self._pending

    def reserve(self) -> bool:
        """Take one slot; ``False`` when threads and waiting room are full."""
        with self._lock:
            if self._pending >= self._capacity:
                return False
            self._pending += 1
            return True

    def release(self) -> None:
        """Give back a slot taken by :meth:`reserve`."""
        with self._lock:
            self._pending = max(0, self._pending - 1)

    def lease_until(self) -> object:
        """The lease expiry to write with a run this process accepts."""
        return utcnow() + timedelta(seconds=self._settings.worker_stalled_after_s)

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the lease thread (renewal and adoption of orphaned runs)."""
        self._thread = threading.Thread(target=self._lease_loop, name="hal9-lease", daemon=True)
        self._thread.start()

    def submit(self, run_id: str) -> None:
        """Execute run ``run_id`` (committed ``queued`` with this process's lease; slot reserved)."""
        future = self._pool.submit(self._execute, run_id)
        self._futures[run_id] = future
        future.add_done_callback(lambda _f: self._futures.pop(run_id, None))

    def cancel(self, run_id: str) -> None:
        """Stop run ``run_id`` at its next checkpoint if this process runs it."""
        self.signals.cancelled.add(run_id)

    def shutdown(self) -> None:
        """Release waiting runs, give running ones the grace period, then hand them back."""
        s = self._settings
        self._stop.set()
        waiting = [run_id for run_id, f in list(self._futures.items()) if f.cancel()]
        for _ in waiting:
            self.release()
        self.signals.hand_back_after(s.worker_shutdown_grace_s)
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + s.worker_shutdown_grace_s + _HARD_MARGIN_S
        for future in list(self._futures.values()):
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:
                pass
        still = dict(self.executor.active)
        try:
            with self._engine.begin() as conn:
                if waiting:
                    conn.execute(
                        update(runs)
                        .where(runs.c.id.in_(waiting), runs.c.status == "queued")
                        .values(lease_until=None, worker=None)
                    )
                for run_id, attempt in still.items():
                    conn.execute(
                        update(runs)
                        .where(runs.c.id == run_id, runs.c.attempts == attempt, runs.c.status == "running")
                        .values(status="queued", retries=runs.c.retries + 1, worker=None, lease_until=None)
                    )
        except Exception as exc:  # leases expire by themselves: another process adopts the runs
            _log.error("could not release runs at shut-down", extra={"exc_type": type(exc).__name__})
        if waiting or still:
            _log.info("runs released at shut-down", extra={"queued": len(waiting), "running": len(still)})
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    # -- internals -------------------------------------------------------------------------------
    def _execute(self, run_id: str) -> None:
        try:
            self.executor.execute(run_id)
        except HandBack:
            pass
        except OutcomeNotRecorded:
            pass  # the lease expires and the run is adopted again
        except Exception as exc:
            _log.error("job could not run", exc_info=exc, extra={"run_id": run_id})
        finally:
            self.release()

    def _lease_loop(self) -> None:
        period = self._settings.worker_heartbeat_s
        while not self._stop.wait(period):
            try:
                self._renew()
                self._adopt()
            except Exception as exc:
                _log.warning("lease renewal failed", extra={"exc_type": type(exc).__name__})

    def _renew(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.worker == self.identity, runs.c.status.in_(ACTIVE_STATUSES))
                .values(lease_until=self.lease_until())
            )

    def _adopt(self) -> None:
        """Take over runs whose lease expired, up to the free capacity of this process."""
        with self._lock:  # reserve the free slots now; the unused ones are given back below
            free = self._capacity - self._pending
            self._pending += max(free, 0)
        if free <= 0:
            return
        adopted: list[str] = []
        try:
            adopted = self._claim_expired(free)
        finally:
            for _ in range(free - len(adopted)):
                self.release()
        for run_id in adopted:
            self.submit(run_id)
        if adopted:
            _log.warning("adopted runs of a lost process", extra={"runs": len(adopted)})

    def _claim_expired(self, limit: int) -> list[str]:
        now = utcnow()
        expired = and_(
            runs.c.status.in_(ACTIVE_STATUSES),
            runs.c.queue_job_id.is_(None),
            or_(runs.c.lease_until.is_(None), runs.c.lease_until < now),
        )
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.status, runs.c.stalls)
                .where(expired)
                .order_by(runs.c.created_at)
                .limit(limit)
            ).all()
            adopted: list[str] = []
            max_attempts = self._settings.job_max_attempts
            for row in rows:
                values: dict[str, object] = {"worker": self.identity, "lease_until": self.lease_until()}
                if row.status == "running":
                    stalls = int(row.stalls) + 1
                    if stalls >= max_attempts:
                        conn.execute(
                            update(runs)
                            .where(runs.c.id == row.id, expired)
                            .values(
                                status="failed",
                                stalls=stalls,
                                finished_at=now,
                                lease_until=None,
                                error=f"worker lost {stalls} times (HAL9_JOB_MAX_ATTEMPTS={max_attempts})",
                            )
                        )
                        continue
                    values |= {"status": "queued", "stalls": stalls, "retries": runs.c.retries + 1}
                done = conn.execute(update(runs).where(runs.c.id == row.id, expired).values(**values))
                if done.rowcount:
                    adopted.append(row.id)
        return adopted
