"""Queue figures for Prometheus, read from the database at scrape time (so every API process agrees).

Workers may run on other machines and restart at will; their own counters would be scattered and
reset. The database holds the truth, so ``/metrics`` reads it (at most once per ``cache_s`` per process):

=====================================  ==============================================================
``hal9_queue_jobs{kind,status}``       runs ``queued`` / ``running`` per kind (the queue depth)
``hal9_queue_oldest_queued_seconds``   age of the oldest queued run (0 when none)
``hal9_queue_workers``                 queue workers seen within ``HAL9_READY_WORKER_WINDOW_S``
                                       (in-process: API processes holding leases)
``hal9_queue_retries_total``           times runs went back to the queue (lost worker or hand-back)
``hal9_queue_stalls_total``            lost workers detected (heartbeat stale), over all runs
``hal9_runs{status}``                  runs by status (``cancelled``: the cancellations)
=====================================  ==============================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import Engine, func, select

from hal9.serve.db import runs, utcnow
from hal9.serve.settings import Settings

__all__ = ["QueueStats", "read_queue_stats"]

_log = logging.getLogger("hal9.serve")


def read_queue_stats(engine: Engine, settings: Settings) -> dict[str, Any]:
    """The figures of the table above, as a dict (four indexed or aggregate queries)."""
    with engine.connect() as conn:
        depth = conn.execute(
            select(runs.c.kind, runs.c.status, func.count())
            .where(runs.c.status.in_(("queued", "running")))
            .group_by(runs.c.kind, runs.c.status)
        ).all()
        oldest = conn.execute(select(func.min(runs.c.created_at)).where(runs.c.status == "queued")).scalar()
        totals = conn.execute(
            select(runs.c.status, func.count(), func.sum(runs.c.retries), func.sum(runs.c.stalls)).group_by(
                runs.c.status
            )
        ).all()
        if settings.uses_queue:
            from hal9.serve.queue import workers_seen

            workers = workers_seen(conn, settings.ready_worker_window_s)
        else:
            workers = int(
                conn.execute(
                    select(func.count(func.distinct(runs.c.worker))).where(
                        runs.c.status.in_(("queued", "running")), runs.c.lease_until > utcnow()
                    )
                ).scalar_one()
            )
    if oldest is not None and not isinstance(oldest, str) and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return {
        "depth": {(k, st): int(n) for k, st, n in depth},
        "oldest_queued_s": 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds()),
        "workers": workers,
        "runs": {st: int(n) for st, n, _, _ in totals},
        "retries": sum(int(r or 0) for _, _, r, _ in totals),
        "stalls": sum(int(x or 0) for _, _, _, x in totals),
    }


class QueueStats:
    """A Prometheus collector over :func:`read_queue_stats`, cached ``cache_s`` seconds."""

    def __init__(self, engine: Engine, settings: Settings, cache_s: float = 2.0) -> None:
        self._engine = engine
        self._settings = settings
        self._cache_s = cache_s
        self._at = -float("inf")
        self._stats: dict[str, Any] | None = None

    def describe(self) -> list[Metric]:
        """No samples at registration (the database may not be migrated yet)."""
        return []

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        if self._stats is None or now - self._at > self._cache_s:
            try:
                self._stats = read_queue_stats(self._engine, self._settings)
                self._at = now
            except Exception as exc:
                _log.warning("queue figures unavailable", extra={"exc_type": type(exc).__name__})
                return
        st = self._stats
        depth = GaugeMetricFamily("hal9_queue_jobs", "runs queued or running", labels=["kind", "status"])
        for (kind, status), n in sorted(st["depth"].items()):
            depth.add_metric([kind, status], n)
        yield depth
        yield GaugeMetricFamily(
            "hal9_queue_oldest_queued_seconds", "age of the oldest queued run", value=st["oldest_queued_s"]
        )
        yield GaugeMetricFamily("hal9_queue_workers", "workers seen recently", value=st["workers"])
        yield CounterMetricFamily(
            "hal9_queue_retries", "times runs went back to the queue", value=st["retries"]
        )
        yield CounterMetricFamily("hal9_queue_stalls", "lost workers detected", value=st["stalls"])
        total = GaugeMetricFamily("hal9_runs", "runs by status", labels=["status"])
        for status, n in sorted(st["runs"].items()):
            total.add_metric([status], n)
        yield total
