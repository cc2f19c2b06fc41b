"""Typed inter-layer messages, the ±1 routing rule of the coordinator, and a columnar message log.

Roles: L5 sends goals to L4; L4 announces, awards and cancels on L3 and reports goal outcomes to L5; L3
units bid, acknowledge, report progress, completion and failure to L4. Any route that skips a layer
(``L5 → L3``, ``L4 → L2``) or breaks these roles raises :class:`LayerRoutingError` before it is logged.

The log keeps one row per message (sender layer and id, receiver layer and id, type, time, correlation id)
in growable NumPy columns, so a 100 000-task simulation's ~10⁶ messages cost a few tens of MB, not a Python
object each; :meth:`MessageLog.__getitem__` rebuilds a :class:`Message` on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

__all__ = ["BROADCAST", "LayerRoutingError", "Message", "MessageLog", "MessageType", "check_route"]

#: Receiver id of a broadcast (an announcement to every live unit).
BROADCAST = -1


class MessageType(IntEnum):
    """Message types of the contract-net protocol (and of the L5 ↔ L4 goal exchange)."""

    GOAL = 0  # L5 → L4: a goal (correlation id: goal index)
    GOAL_REJECTED = 1  # L4 → L5: admission refused
    GOAL_DONE = 2  # L4 → L5: every task of the goal is terminal
    ANNOUNCE = 3  # L4 → L3 (broadcast): ready tasks offered this round (correlation id: round)
    BID = 4  # L3 → L4: a unit's bid vector for the announced tasks (correlation id: round)
    AWARD = 5  # L4 → L3: task awarded to a unit (correlation id: task index)
    ACK = 6  # L3 → L4: unit accepts the award
    PROGRESS = 7  # L3 → L4: half of the task's work done
    COMPLETE = 8  # L3 → L4: task done
    FAIL = 9  # L3 → L4 (or detected by L4): attempt lost to a unit failure or an ack timeout
    CANCEL = 10  # L4 → L3 / bookkeeping: task cancelled with a reason


# Allowed (sender layer, receiver layer) per type; layers are 1-based (L1 … L9).
_ROUTES: dict[MessageType, tuple[int, int]] = {
    MessageType.GOAL: (5, 4),
    MessageType.GOAL_REJECTED: (4, 5),
    MessageType.GOAL_DONE: (4, 5),
    MessageType.ANNOUNCE: (4, 3),
    MessageType.BID: (3, 4),
    MessageType.AWARD: (4, 3),
    MessageType.ACK: (3, 4),
    MessageType.PROGRESS: (3, 4),
    MessageType.COMPLETE: (3, 4),
    MessageType.FAIL: (3, 4),
    MessageType.CANCEL: (4, 3),
}


class LayerRoutingError(ValueError):
    """A message would cross more than one layer, or break the L5 → L4 → L3 roles."""


def check_route(type_: MessageType, sender_layer: int, receiver_layer: int) -> None:
    """Raise :class:`LayerRoutingError` unless ``sender_layer → receiver_layer`` is legal for ``type_``.

    The ±1 rule first (``|sender − receiver| ≤ 1``, layers in 1..9), then the coordinator's roles.
    """
    if _ROUTES.get(type_) == (sender_layer, receiver_layer):  # fast path: the legal route
        return
    for name, layer in (("sender_layer", sender_layer), ("receiver_layer", receiver_layer)):
        if not 1 <= layer <= 9:
            raise LayerRoutingError(f"{name} must be in 1..9, got {layer}")
    if abs(sender_layer - receiver_layer) > 1:
        raise LayerRoutingError(
            f"{MessageType(type_).name} from L{sender_layer} to L{receiver_layer} skips a layer "
            "(the ±1 rule allows only adjacent layers)"
        )
    allowed = _ROUTES[MessageType(type_)]
    if (sender_layer, receiver_layer) != allowed:
        raise LayerRoutingError(
            f"{MessageType(type_).name} must go L{allowed[0]} → L{allowed[1]}, "
            f"got L{sender_layer} → L{receiver_layer}"
        )


@dataclass(frozen=True)
class Message:
    """One logged message. ``sender``/``receiver`` are indices within their layer (goal source, the
    coordinator ``0``, a unit index, or :data:`BROADCAST`); ``correlation`` ties a message to its task,
    goal or round."""

    type: MessageType
    sender_layer: int
    sender: int
    receiver_layer: int
    receiver: int
    time: float
    correlation: int


class MessageLog:
    """Append-only columnar log of messages; every append checks the route first.

    Columns (NumPy, length ``len(log)``): ``type`` int8, ``sender_layer``/``receiver_layer`` int8,
    ``sender``/``receiver``/``correlation`` int64, ``time`` float64.
    """

    _COLS = (
        ("type", np.int8),
        ("sender_layer", np.int8),
        ("sender", np.int64),
        ("receiver_layer", np.int8),
        ("receiver", np.int64),
        ("time", np.float64),
        ("correlation", np.int64),
    )

    def __init__(self, capacity: int = 1024) -> None:
        self._n = 0
        self._data: dict[str, NDArray] = {c: np.empty(capacity, dtype=t) for c, t in self._COLS}

    def __len__(self) -> int:
        return self._n

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        cap = len(self._data["type"])
        if need > cap:
            new = max(need, 2 * cap)
            for c, arr in self._data.items():
                grown = np.empty(new, dtype=arr.dtype)
                grown[: self._n] = arr[: self._n]
                self._data[c] = grown

    def send(self, message: Message) -> None:
        """Check the route of one message and log it."""
        self.send_many(
            message.type,
            message.sender_layer,
            np.asarray([message.sender]),
            message.receiver_layer,
            np.asarray([message.receiver]),
            np.asarray([message.time], dtype=np.float64),
            np.asarray([message.correlation]),
        )

    def send_many(
        self,
        type_: MessageType,
        sender_layer: int,
        sender: NDArray | int,
        receiver_layer: int,
        receiver: NDArray | int,
        time: NDArray | float,
        correlation: NDArray | int,
    ) -> None:
        """Log ``n`` messages of one type and route at once (array arguments broadcast to length ``n``)."""
        check_route(type_, sender_layer, receiver_layer)
        parts = (sender, receiver, time, correlation)
        n = 1
        for x in parts:
            if isinstance(x, np.ndarray):
                if x.ndim != 1:
                    raise ValueError(f"message columns must be scalars or 1-D arrays, got shape {x.shape}")
                if x.size == 0:
                    return
                if x.size != 1:
                    if n not in (1, x.size):
                        raise ValueError(f"message columns have {n} and {x.size} entries")
                    n = x.size
        self._reserve(n)
        i = self._n
        d = self._data
        if n == 1:
            d["type"][i] = int(type_)
            d["sender_layer"][i] = sender_layer
            d["receiver_layer"][i] = receiver_layer
            for name, x in zip(("sender", "receiver", "time", "correlation"), parts, strict=True):
                d[name][i] = x[0] if isinstance(x, np.ndarray) else x
        else:
            s = slice(i, i + n)
            d["type"][s] = int(type_)
            d["sender_layer"][s] = sender_layer
            d["receiver_layer"][s] = receiver_layer
            for name, x in zip(("sender", "receiver", "time", "correlation"), parts, strict=True):
                d[name][s] = x
        self._n += n

    def copy(self) -> MessageLog:
        """An independent copy (the log of a snapshot does not grow with the simulation)."""
        out = MessageLog(capacity=max(self._n, 1))
        for c, arr in self._data.items():
            out._data[c][: self._n] = arr[: self._n]
        out._n = self._n
        return out

    def column(self, name: str) -> NDArray:
        """A read-only view of one column (``type``, ``sender``, ``time``, …)."""
        view = self._data[name][: self._n]
        view.flags.writeable = False
        return view

    def __getitem__(self, i: int) -> Message:
        if not -self._n <= i < self._n:
            raise IndexError(f"message index {i} out of range for {self._n} messages")
        i %= self._n
        d = self._data
        return Message(
            type=MessageType(int(d["type"][i])),
            sender_layer=int(d["sender_layer"][i]),
            sender=int(d["sender"][i]),
            receiver_layer=int(d["receiver_layer"][i]),
            receiver=int(d["receiver"][i]),
            time=float(d["time"][i]),
            correlation=int(d["correlation"][i]),
        )

    def counts(self) -> dict[str, int]:
        """Messages per type name (types never sent are omitted)."""
        c = np.bincount(self.column("type"), minlength=len(MessageType))
        return {MessageType(t).name: int(k) for t, k in enumerate(c) if k}

    def time_order(self) -> NDArray:
        """Indices of the log sorted by time (stable: equal times keep sending order)."""
        return np.argsort(self.column("time"), kind="stable")
