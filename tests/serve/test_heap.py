"""Garbage-collector settings of the serving processes (``hal9.serve.heap``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from hal9.serve.heap import freeze_startup_heap, watch_gc
from hal9.serve.metrics import ServeMetrics


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Leave the test process's heap as it was found (frozen objects are never collected)."""
    yield
    gc.unfreeze()


def test_freeze_moves_the_heap_out_of_collections(unfrozen: None) -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    Cycle()  # garbage with a cycle: collected before the freeze, not frozen with the rest
    frozen = freeze_startup_heap()
    assert frozen == gc.get_freeze_count() > 1000
    assert not any(type(o) is Cycle for o in gc.get_objects())
    assert len(gc.get_objects(generation=2)) < frozen


def test_gc_pauses_are_observed_per_generation() -> None:
    metrics = ServeMetrics(CollectorRegistry())
    unwatch = watch_gc(metrics.gc_pause)
    try:
        for generation in (0, 1, 2):
            gc.collect(generation)
    finally:
        unwatch()
    registry = metrics.registry
    for generation in ("0", "1", "2"):
        count = registry.get_sample_value("hal9_gc_pause_seconds_count", {"generation": generation})
        assert count is not None and count >= 1
    total = registry.get_sample_value("hal9_gc_pause_seconds_sum", {"generation": "2"})
    assert total is not None and total > 0
    before = registry.get_sample_value("hal9_gc_pause_seconds_count", {"generation": "2"})
    gc.collect()  # after unwatch: not observed
    assert registry.get_sample_value("hal9_gc_pause_seconds_count", {"generation": "2"}) == before
