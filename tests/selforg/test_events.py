import pytest

from hal9.selforg.events import EventKind, EventLog


def test_order_callbacks_and_unsubscribe() -> None:
    ticks = iter([0.0, 1.0, 2.5, 4.0])
    log = EventLog(clock=lambda: next(ticks))
    a, b = [], []
    un_a = log.subscribe(a.append)
    log.subscribe(lambda e: b.append(e.seq))
    log.emit(EventKind.NEURONS_ADDED, count=5)
    un_a()
    log.emit("discovery_done", edges=40)
    log.emit(EventKind.LAYER_EMERGED, layer=1, size=3)
    assert [e.kind for e in a] == [EventKind.NEURONS_ADDED]
    assert b == [0, 1, 2]
    assert [e.elapsed_s for e in log.events] == [1.0, 2.5, 4.0]
    assert log.records()[1] == {"seq": 1, "kind": "discovery_done", "elapsed_s": 2.5, "edges": 40}
    assert len(log) == 3


def test_events_are_immutable_and_logs_independent() -> None:
    log1, log2 = EventLog(), EventLog()
    e = log1.emit(EventKind.HEALED, bypass_edges=2)
    with pytest.raises(TypeError):
        e.data["bypass_edges"] = 3  # type: ignore[index]
    assert len(log2) == 0


def test_bad_kind_and_callback() -> None:
    log = EventLog()
    with pytest.raises(ValueError, match="kind"):
        log.emit("exploded")
    with pytest.raises(ValueError, match="callback"):
        log.subscribe(3)  # type: ignore[arg-type]
