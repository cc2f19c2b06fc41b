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
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["freeze_startup_heap", "watch_gc"]


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


def watch_gc(pauses: _Observer) -> Callable[[], None]:
    """Record the duration of each collection in ``pauses`` (a histogram labelled by generation).

    One callback per process; ``hal9_gc_pause_seconds{generation}`` on ``/metrics``. Returns a function
    that removes the callback.
    """
    started: dict[int, float] = {}
    children = {g: pauses.labels(str(g)) for g in range(3)}

    def callback(phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if phase == "start":
            started[generation] = time.perf_counter()
        elif generation in started:
            children[generation].observe(time.perf_counter() - started.pop(generation))

    gc.callbacks.append(callback)
    return lambda: gc.callbacks.remove(callback)
