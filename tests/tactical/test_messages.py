"""The ±1 routing rule and the coordinator's roles; the columnar message log."""

from __future__ import annotations

import numpy as np
import pytest

from hal9.tactical import LayerRoutingError, Message, MessageLog, MessageType, check_route


@pytest.mark.parametrize(
    ("type_", "src", "dst"),
    [
        (MessageType.GOAL, 5, 3),  # L5 → L3 skips L4
        (MessageType.AWARD, 4, 2),  # L4 → L2 skips L3
        (MessageType.COMPLETE, 3, 5),  # L3 reports only to L4
        (MessageType.GOAL, 3, 4),  # L4 accepts goals only from L5
        (MessageType.AWARD, 4, 5),  # L4 dispatches only to L3
        (MessageType.BID, 2, 3),  # L3 reports go to L4
        (MessageType.ANNOUNCE, 4, 10),  # no L10
    ],
)
def test_illegal_routes_raise(type_: MessageType, src: int, dst: int) -> None:
    with pytest.raises(LayerRoutingError):
        check_route(type_, src, dst)
    log = MessageLog()
    with pytest.raises(LayerRoutingError):
        log.send(Message(type_, src, 0, dst, 0, 0.0, 0))
    assert len(log) == 0  # nothing logged


def test_skip_error_mentions_the_rule() -> None:
    with pytest.raises(LayerRoutingError, match="±1"):
        check_route(MessageType.GOAL, 5, 3)


def test_legal_routes_and_log_roundtrip() -> None:
    log = MessageLog(capacity=2)
    log.send(Message(MessageType.GOAL, 5, 0, 4, 0, 0.5, 7))
    log.send_many(MessageType.AWARD, 4, 0, 3, np.array([1, 2, 3]), 1.0, np.array([10, 11, 12]))
    log.send_many(MessageType.ACK, 3, np.array([1, 2, 3]), 4, 0, np.array([0.9, 1.0, 1.1]), 10)
    assert len(log) == 7
    assert log[0] == Message(MessageType.GOAL, 5, 0, 4, 0, 0.5, 7)
    assert log[2] == Message(MessageType.AWARD, 4, 0, 3, 2, 1.0, 11)
    assert log[-1].time == 1.1
    assert log.counts() == {"GOAL": 1, "AWARD": 3, "ACK": 3}
    order = log.time_order()
    assert np.all(np.diff(log.column("time")[order]) >= 0)
    with pytest.raises(IndexError):
        log[7]
    with pytest.raises(ValueError, match="have 2 and 3 entries"):
        log.send_many(MessageType.AWARD, 4, 0, 3, np.array([1, 2]), 1.0, np.array([1, 2, 3]))
