"""Garbage-collector settings of the long-running service processes (API and ``hal9 worker``).

An API process holds about 260,000 objects once started (torch, pydantic, SQLAlchemy, FastAPI), and
CPython's full (generation 2) collection walks every one of them: about 120 ms on an idle core here,
170–320 ms under load, 36–39 times a minute per process at 1,000 req/s (measured with ``gc.callbacks``).
Each collection stops the event loop, so every request in flight waits; that, not the request cost,
was most of the P95 of the load test (``docs/serving.md``, "Load"). :func:`freeze_startup_heap` moves
what exists after start-up into the permanent generation (:func:`gc.freeze`, the remedy the Python
docs and Instagram's write-up give): later collections walk only the objects made while serving.
Objects are still freed by reference counting; only reference cycles among the frozen ones are never
collected, and those are collected once just before the freeze.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from typing import Any, Protocol

__all__ = ["GcWatch", "freeze_startup_heap", "watch_gc"]


class _Observer(Protocol):
    def labels(self, *values: str) -> Any: ...


def freeze_startup_heap() -> int:
    """Collect once, then freeze every surviving object; returns how many are frozen.

    Call it once per process, after start-up and before serving (``hal9.serve.app.app_factory``,
    ``hal9 worker``), never in a library or test process that builds many apps.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GcWatch:
    """Durations of garbage collections, kept by a ``gc.callbacks`` hook, recorded by :meth:`flush`.

    The hook itself only appends ``(generation, seconds)`` to a bounded deque: a collection can start
    while this very thread holds the lock of a Prometheus value (with ``PROMETHEUS_MULTIPROC_DIR`` every
    value shares one non-reentrant lock), so observing the histogram from inside the hook could wait
    for itself forever. :meth:`flush` runs from ordinary code (each request, each scrape).
    """

    def __init__(self, pauses: _Observer, maxlen: int = 10_000) -> None:
        self._children = {g: pauses.labels(str(g)) for g in range(3)}
        self._pending: deque[tuple[int, float]] = deque(maxlen=maxlen)
        self._started: dict[int, float] = {}
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if phase == "start":
            self._started[generation] = time.perf_counter()
        elif generation in self._started:
            self._pending.append((generation, time.perf_counter() - self._started.pop(generation)))

    def flush(self) -> None:
        """Record the collections seen since the last flush (cheap when there are none)."""
        pending = self._pending
        while pending:
            generation, seconds = pending.popleft()
            self._children[generation].observe(seconds)

    def stop(self) -> None:
        """Remove the hook (pending durations are recorded first)."""
        self.flush()
        gc.callbacks.remove(self._callback)


def watch_gc(pauses: _Observer) -> GcWatch:
    """Keep the duration of each collection for ``pauses`` (a histogram labelled by generation).

    One per process; ``hal9_gc_pause_seconds{generation}`` on ``/metrics``. Call ``flush()`` on the result
    from ordinary code to record them (the request middleware and ``/metrics`` do).
    """
    return GcWatch(pauses)
