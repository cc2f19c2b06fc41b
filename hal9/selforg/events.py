"""An ordered, observable event log of self-organization (for dashboards and MLflow)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hal9.core import RenamingEnumType

__all__ = ["Event", "EventKind", "EventLog"]


class EventKind(StrEnum, metaclass=RenamingEnumType):
    """What happened. (``HIERARCHY_STABILISED`` / ``"hierarchy_stabilised"`` still resolve, with a
    ``DeprecationWarning``, until hal9 0.2.0.)"""

    __renamed__ = MappingProxyType({"HIERARCHY_STABILISED": "HIERARCHY_STABILIZED"})

    NEURONS_ADDED = "neurons_added"
    DISCOVERY_DONE = "discovery_done"
    LAYER_EMERGED = "layer_emerged"
    HIERARCHY_STABILIZED = "hierarchy_stabilized"
    NEURON_REMOVED = "neuron_removed"
    HEALED = "healed"


@dataclass(frozen=True)
class Event:
    """One entry: position ``seq`` in the log, ``kind``, seconds since the log started, and data."""

    seq: int
    kind: EventKind
    elapsed_s: float
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """Plain dict (JSON-ready when ``data`` is)."""
        return {"seq": self.seq, "kind": str(self.kind), "elapsed_s": self.elapsed_s, **dict(self.data)}


class EventLog:
    """Append-only log; callbacks are called synchronously, in subscription order, for every new event.

    An instance holds its own events and subscribers (no class-level state), so two organisers never
    share a log by accident.

    Examples
    --------
    >>> log = EventLog()
    >>> seen = []
    >>> unsubscribe = log.subscribe(seen.append)
    >>> _ = log.emit(EventKind.NEURONS_ADDED, count=10)
    >>> [e.kind.value for e in seen], log.events[0].data["count"]
    (['neurons_added'], 10)
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._start = clock()
        self._events: list[Event] = []
        self._subscribers: list[Callable[[Event], None]] = []

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def emit(self, kind: EventKind | str, **data: Any) -> Event:
        """Append an event of ``kind`` with ``data`` and notify subscribers."""
        try:
            kind = EventKind(kind)
        except ValueError as exc:
            raise ValueError(f"kind must be one of {[k.value for k in EventKind]}, got {kind!r}") from exc
        event = Event(len(self._events), kind, self._clock() - self._start, MappingProxyType(dict(data)))
        self._events.append(event)
        for cb in list(self._subscribers):
            cb(event)
        return event

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; returns a function that unsubscribes it."""
        if not callable(callback):
            raise ValueError("callback must be callable")
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def records(self) -> list[dict[str, Any]]:
        """All events as plain dicts, in order."""
        return [e.to_record() for e in self._events]
