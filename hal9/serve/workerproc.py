"""The ``hal9 worker`` process: procrastinate's worker around :class:`~hal9.serve.execute.Executor`.

One process runs one job at a time (jobs are CPU-heavy torch work; run more processes for more
concurrency: ``hal9 worker --processes N`` supervises N of them). Besides procrastinate's worker loop,
the process keeps three promises of the service:

* **heartbeat** — its own loop renews the worker's heartbeat on the SQLAlchemy engine, also while
  procrastinate's worker is stopping (procrastinate cancels its heartbeat task before it waits for
  running jobs, which would make a job that is still computing look stalled);
* **recovery** — every ``HAL9_WORKER_HEARTBEAT_S`` it runs :func:`hal9.serve.queue.recover_stalled`,
  but only once its own database access has been healthy for ``HAL9_WORKER_STALLED_AFTER_S``: after a
  database outage every worker's heartbeat is old, and live workers must first get the chance to renew
  theirs;
* **bounded shut-down** — on SIGTERM/SIGINT it stops taking jobs and lets the running job finish for
  ``HAL9_WORKER_SHUTDOWN_GRACE_S``; then the job hands back at its next checkpoint (run → ``queued``,
  job → ``todo``). A job that reaches no checkpoint within 5 more seconds is re-queued from here and
  the process exits.

If procrastinate's worker stops by itself (its listener or heartbeat connection was cut), the running
job still finishes and records its outcome, and a new worker starts after a back-off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from typing import Any

from sqlalchemy import Engine, text

from hal9.serve.execute import Executor, StopSignals, requeue_run, worker_identity
from hal9.serve.jobs import JobRegistry, default_registry
from hal9.serve.leanread import lean_conninfo
from hal9.serve.metrics import ServeMetrics
from hal9.serve.queue import QUEUE_NAME, build_app, recover_stalled
from hal9.serve.settings import Settings

__all__ = ["ThreadedWorker", "lower_priority", "run_worker", "serve_queue"]

_log = logging.getLogger("hal9.serve.worker")
_HARD_MARGIN_S = 5.0


class _Health:
    """Since when this process has reached the database without an error."""

    def __init__(self) -> None:
        self.healthy_since: float | None = None

    def ok(self) -> None:
        if self.healthy_since is None:
            self.healthy_since = time.monotonic()

    def failed(self) -> None:
        self.healthy_since = None

    def healthy_for(self) -> float:
        return 0.0 if self.healthy_since is None else time.monotonic() - self.healthy_since


def _beat(engine: Engine, worker_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = now() WHERE id = :id"), {"id": worker_id}
        )


def _hand_back_now(engine: Engine, executor: Executor, jobs: dict[int, str]) -> None:
    """Re-queue the jobs still running in this process (the process is about to exit)."""
    with engine.begin() as conn:
        for job_id in jobs:
            conn.execute(
                text("SELECT procrastinate_retry_job_v2(:j, now(), NULL, NULL, NULL)"), {"j": job_id}
            )
    for run_id, attempt in list(executor.active.items()):
        requeue_run(engine, run_id, attempt)


async def serve_queue(
    settings: Settings,
    registry: JobRegistry,
    name: str,
    stop: asyncio.Event,
    *,
    hard_exit: bool = True,
    registered: threading.Event | None = None,
) -> int:
    """Run one queue worker until ``stop`` is set (the body of ``hal9 worker``; also usable in a thread).

    ``hard_exit``: when a running job reaches no checkpoint within the grace period plus 5 s, re-queue
    it and end the process (``os._exit``); without it (embedded use) the coroutine just returns.
    ``registered`` is set once the worker has registered and sent a heartbeat.
    """
    from procrastinate.worker import Worker

    from hal9.serve.db import make_engine

    s = settings
    engine = make_engine(settings.database_url, pool_size=2, max_overflow=2, application_name="hal9-worker")
    signals = StopSignals()
    executor = Executor(engine, registry, settings, ServeMetrics(), signals, name)
    app = build_app(lean_conninfo(engine.url.render_as_string(hide_password=False)), executor)
    health = _Health()
    current: dict[str, Any] = {"worker": None}

    finished = asyncio.Event()

    async def pause(seconds: float) -> bool:
        """Sleep ``seconds``; ``True`` once the worker is finishing (side loops then end)."""
        try:
            await asyncio.wait_for(finished.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    # The side loops are never cancelled mid-query (a cancelled ``to_thread`` would leave its thread
    # holding a connection while the engine is disposed): they end at their next pause.
    async def heartbeat() -> None:
        while True:
            worker = current["worker"]
            try:
                if worker is not None and worker.worker_id is not None:
                    await asyncio.to_thread(_beat, engine, worker.worker_id)
                    if registered is not None:
                        registered.set()
                else:
                    await asyncio.to_thread(_ping, engine)
                health.ok()
            except Exception as exc:
                health.failed()
                _log.warning("heartbeat failed", extra={"exc_type": type(exc).__name__})
            # Short pauses until the first heartbeat of a new worker, then the heartbeat period.
            waiting = worker is None or worker.worker_id is None
            if await pause(min(0.1, s.worker_heartbeat_s) if waiting else s.worker_heartbeat_s):
                return

    async def recovery() -> None:
        while not await pause(s.worker_heartbeat_s):
            if health.healthy_for() < s.worker_stalled_after_s:
                continue
            try:
                await asyncio.to_thread(
                    recover_stalled,
                    engine,
                    stalled_after_s=s.worker_stalled_after_s,
                    max_attempts=s.job_max_attempts,
                )
            except Exception as exc:
                _log.warning("stalled-job recovery failed", extra={"exc_type": type(exc).__name__})

    side = [asyncio.create_task(heartbeat()), asyncio.create_task(recovery())]
    backoff = 0.5
    exit_code = 0
    _log.info("worker started", extra={"worker": name, "queue": QUEUE_NAME})
    try:
        while not stop.is_set():
            try:
                async with app.open_async():
                    worker = Worker(
                        app,
                        queues=[QUEUE_NAME],
                        name=name,
                        concurrency=1,
                        install_signal_handlers=False,
                        shutdown_graceful_timeout=None,
                        update_heartbeat_interval=s.worker_heartbeat_s,
                        stalled_worker_timeout=s.worker_stalled_after_s,
                        fetch_job_polling_interval=s.worker_poll_s,
                        abort_job_polling_interval=max(s.worker_poll_s, 1.0),
                        listen_notify=True,
                    )
                    current["worker"] = worker
                    run = asyncio.create_task(worker.run())
                    stopper = asyncio.create_task(stop.wait())
                    await asyncio.wait({run, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    stopper.cancel()
                    if stop.is_set():
                        exit_code = await _shut_down(worker, run, engine, executor, signals, s, hard_exit)
                        break
                    exc = run.exception()
                    backoff_now = backoff
                    _log.warning(
                        "queue worker stopped; starting a new one",
                        extra={"exc_type": type(exc).__name__ if exc else None, "backoff_s": backoff_now},
                    )
            except Exception as exc:  # the database is unreachable: open_async or the worker failed
                health.failed()
                _log.warning(
                    "worker cannot reach the queue", exc_info=exc, extra={"exc_type": type(exc).__name__}
                )
            current["worker"] = None
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, 10.0)
    finally:
        finished.set()
        await asyncio.gather(*side, return_exceptions=True)
        engine.dispose()
    _log.info("worker stopped", extra={"worker": name})
    return exit_code


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _shut_down(
    worker: Any,
    run: asyncio.Task[Any],
    engine: Engine,
    executor: Executor,
    signals: StopSignals,
    s: Settings,
    hard_exit: bool,
) -> int:
    """Stop taking jobs; give running ones the grace period, then hand them back."""
    running = {ctx.job.id: ctx.job.task_kwargs.get("run_id") for ctx in worker._running_jobs.values()}
    _log.info("shutting down", extra={"running_jobs": len(running), "grace_s": s.worker_shutdown_grace_s})
    worker.stop()
    signals.hand_back_after(s.worker_shutdown_grace_s)
    try:
        await asyncio.wait_for(asyncio.shield(run), timeout=s.worker_shutdown_grace_s + _HARD_MARGIN_S)
    except TimeoutError:
        running = {ctx.job.id: ctx.job.task_kwargs.get("run_id") for ctx in worker._running_jobs.values()}
        _log.error(
            "running job reached no checkpoint in time; re-queued, exiting", extra={"jobs": len(running)}
        )
        await asyncio.to_thread(_hand_back_now, engine, executor, running)
        if worker.worker_id is not None:
            await asyncio.to_thread(_unregister, engine, worker.worker_id)
        if hard_exit:
            logging.shutdown()
            os._exit(0)  # the job's thread cannot be interrupted; its run is back in the queue
        return 1
    except Exception as exc:
        _log.warning("worker ended with an error while stopping", extra={"exc_type": type(exc).__name__})
    return 0


def _unregister(engine: Engine, worker_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_workers WHERE id = :id"), {"id": worker_id})


def lower_priority(nice: int) -> int:
    """Make this process at least ``nice`` nice (never less nice than it is); returns its niceness.

    Sets the absolute value (``setpriority``), so a worker started by an already niced supervisor is not
    niced twice.
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


def run_worker(settings: Settings, registry: JobRegistry | None = None, *, name: str | None = None) -> int:
    """Run one worker process until SIGTERM/SIGINT; returns the exit code."""
    if not settings.uses_queue:
        raise ValueError("hal9 worker needs PostgreSQL (DATABASE_URL=postgresql://...)")
    if settings.job_torch_threads:
        import torch

        torch.set_num_threads(settings.job_torch_threads)
    from hal9.serve.heap import freeze_startup_heap

    if settings.worker_nice:
        lower_priority(settings.worker_nice)
    registry = registry or default_registry()
    freeze_startup_heap()  # full collections would walk torch's objects on every job (hal9.serve.heap)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve_queue(settings, registry, name or worker_identity(), stop)

    return asyncio.run(main())


class ThreadedWorker:
    """A queue worker on a thread of this process (tests, notebooks); :meth:`stop` is its SIGTERM.

    Examples
    --------
    >>> worker = ThreadedWorker(settings).start()  # doctest: +SKIP
    >>> worker.stop()  # doctest: +SKIP
    """

    def __init__(self, settings: Settings, registry: JobRegistry | None = None, *, name: str | None = None):
        self.settings = settings
        self.registry = registry or default_registry()
        self.name = name or worker_identity("thread-worker")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._registered = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hal9-queue-worker", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve_queue(
                self.settings,
                self.registry,
                self.name,
                self._stop,
                hard_exit=False,
                registered=self._registered,
            )

        asyncio.run(main())

    def start(self, timeout_s: float = 30.0) -> ThreadedWorker:
        """Start the thread and wait (at most ``timeout_s``) until the worker is registered."""
        self._thread.start()
        self._ready.wait(timeout_s)
        self._registered.wait(timeout_s)
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop taking jobs, hand back after the grace period, wait for the thread."""
        if not self._thread.is_alive():
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        limit = self.settings.worker_shutdown_grace_s + 15.0 if timeout_s is None else timeout_s
        self._thread.join(limit)
