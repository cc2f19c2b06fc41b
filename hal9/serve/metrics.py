"""Prometheus metrics of one app, in its own :class:`~prometheus_client.CollectorRegistry`.

With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (``hal9 serve --workers N`` does it for
you): every process then writes its samples to files there and ``/metrics`` aggregates them with
:class:`~prometheus_client.multiprocess.MultiProcessCollector`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector

__all__ = ["ServeMetrics"]

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_GC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class ServeMetrics:
    """Request and job metrics (names in ``docs/serving.md``).

    Parameters
    ----------
    registry : CollectorRegistry, optional
        Where the metrics are registered; a new registry by default (never the global one, so tests
        can build several apps in one process).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._collectors: list[Collector] = []
        #: Called before each exposition and after each request (e.g. :class:`hal9.serve.heap.GcWatch`).
        self.flushers: list[Callable[[], None]] = []
        r = self.registry
        self.requests = Counter(
            "hal9_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "hal9_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs_running = Gauge(
            "hal9_jobs_running",
            "jobs being executed by this process (in-process execution)",
            ["kind"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.jobs_retried = Counter(
            "hal9_jobs_retried_total",
            "jobs put back in the queue by this process",
            ["kind", "reason"],
            registry=r,
        )
        self.jobs_cancelled = Counter(
            "hal9_jobs_cancelled_total", "running jobs stopped by a cancellation", ["kind"], registry=r
        )
        self.jobs_finished = Counter(
            "hal9_jobs_finished_total", "finished jobs", ["kind", "outcome"], registry=r
        )
        self.job_duration = Histogram(
            "hal9_job_duration_seconds", "job run time", ["kind"], buckets=_JOB_BUCKETS, registry=r
        )
        self.neuron_steps = Counter(
            "hal9_neuron_steps_simulated_total", "neuron-steps simulated by simulation jobs", registry=r
        )
        self.selforg_layers = Gauge(
            "hal9_selforg_last_layer_count",
            "layers found by the last self-organization job",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.auth_failures = Counter(
            "hal9_auth_failures_total", "rejected credentials", ["reason"], registry=r
        )
        self.rate_limited = Counter(
            "hal9_rate_limited_total", "requests refused by a rate limit", ["limit"], registry=r
        )

        self.gc_pause = Histogram(
            "hal9_gc_pause_seconds",
            "garbage-collector pauses of the serving processes, by generation",
            ["generation"],
            buckets=_GC_BUCKETS,
            registry=r,
        )

    def add_collector(self, collector: Collector) -> None:
        """Register a collector that computes its samples at scrape time (also in multiprocess mode)."""
        self.registry.register(collector)
        self._collectors.append(collector)

    def flush(self) -> None:
        """Record what the :attr:`flushers` hold (outside any GC callback or metrics lock)."""
        for flusher in self.flushers:
            flusher()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type (all processes in multiprocess mode)."""
        self.flush()
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if path:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=path)
            for collector in self._collectors:
                registry.register(collector)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
