"""Sandbox WebSocket faults (drop, stall, malformed frame, refused handshake), Upbit's connection and
message limits, the keep-alive and the counts the state reports."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.exchange.ws_helpers import BTC, receive, request, subscribe, ws_url
from tests.waiting import wait_until


@pytest.fixture
def pinned(sandbox: Any) -> Any:
    sandbox.set_price("100000000")
    return sandbox


@pytest.fixture
def stream(pinned: Any) -> Iterator[ClientConnection]:
    with connect(ws_url(pinned), open_timeout=2) as ws:
        yield ws


def open_ids(sandbox: Any) -> list[int]:
    return [c["id"] for c in sandbox.state()["websocket"]["open"]]


def test_drop_all_cuts_every_connection_without_a_close_frame(pinned: Any, stream: ClientConnection) -> None:
    with connect(ws_url(pinned), open_timeout=2) as other:
        wait_until(lambda: len(open_ids(pinned)) == 2)
        assert pinned.ws_drop() == {"dropped": 2}
        for ws in (stream, other):
            with pytest.raises(ConnectionClosedError) as closed:
                ws.recv(timeout=2)
            assert closed.value.rcvd is None  # no close frame: the client sees 1006
    wait_until(lambda: pinned.state()["websocket"]["connections"] == 0)


def test_drop_one_leaves_the_others_streaming(pinned: Any, stream: ClientConnection) -> None:
    wait_until(lambda: len(open_ids(pinned)) == 1)
    first = open_ids(pinned)[0]
    with connect(ws_url(pinned), open_timeout=2) as other:
        wait_until(lambda: len(open_ids(pinned)) == 2)
        assert pinned.ws_drop(first) == {"dropped": 1}
        with pytest.raises(ConnectionClosed):
            stream.recv(timeout=2)
        other.send(request({"type": "ticker", "codes": [BTC]}))
        assert receive(other)["type"] == "ticker"


def test_stall_keeps_the_connection_but_sends_no_data_until_it_ends(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC]}))
    receive(stream)
    assert pinned.ws_stall(60) == {"stalled": 1}
    pinned.set_price("101000000")
    stream.send("PING")
    assert receive(stream) == {"status": "UP"}  # alive, but the price move was never sent
    pinned.ws_stall(0)
    pinned.set_price("102000000")
    assert receive(stream)["trade_price"] == 102000000.0


def test_malformed_frame_is_binary_but_not_json(pinned: Any, stream: ClientConnection) -> None:
    wait_until(lambda: len(open_ids(pinned)) == 1)
    assert pinned.ws_malformed() == {"sent": 1}
    frame = stream.recv(timeout=2)
    assert isinstance(frame, bytes)
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        json.loads(frame)
    stream.send("PING")
    assert receive(stream) == {"status": "UP"}  # the connection goes on


def test_refused_handshake_answers_the_armed_status_then_accepts_again(pinned: Any) -> None:
    pinned.ws_refuse(503, 1)
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(pinned), open_timeout=2)
    assert refused.value.response.status_code == 503
    with connect(ws_url(pinned), open_timeout=2) as ws:
        ws.send("PING")
        assert receive(ws) == {"status": "UP"}
    assert pinned.state()["websocket"]["refused"] == 1


def test_reset_faults_clears_an_armed_refusal(pinned: Any) -> None:
    pinned.ws_refuse(401, 5)
    pinned.reset_faults()
    with connect(ws_url(pinned), open_timeout=2):
        pass


def test_a_sixth_connect_within_a_second_is_refused_with_429(pinned: Any) -> None:
    pinned.hold_quota_clock()
    with contextlib.ExitStack() as opened:
        first = opened.enter_context(connect(ws_url(pinned), open_timeout=2))
        assert first.response.headers["Remaining-Req"] == "group=websocket; min=300; sec=4"
        for _ in range(4):
            opened.enter_context(connect(ws_url(pinned), open_timeout=2))
        with pytest.raises(InvalidStatus) as refused, connect(ws_url(pinned), open_timeout=2):
            pass
        assert refused.value.response.status_code == 429


def test_connects_refused_again_and_again_earn_a_418_ban(sandbox_factory: Any) -> None:
    box = sandbox_factory(ban_after=1, ban_seconds=30)
    box.hold_quota_clock()
    statuses = []
    with contextlib.ExitStack() as opened:
        for _ in range(5):
            opened.enter_context(connect(ws_url(box), open_timeout=2))
        for _ in range(3):
            with pytest.raises(InvalidStatus) as refused, connect(ws_url(box), open_timeout=2):
                pass
            statuses.append(refused.value.response.status_code)
    assert statuses == [429, 418, 418]


def test_a_sixth_message_within_a_second_gets_too_many_requests(stream: ClientConnection) -> None:
    for _ in range(5):
        stream.send("PING")
    stream.send(request({"type": "ticker", "codes": [BTC]}))
    answers = [receive(stream) for _ in range(6)]
    assert answers[:5] == [{"status": "UP"}] * 5
    assert answers[5]["error"]["name"] == "TOO_MANY_REQUESTS"


def test_the_hundred_and_first_message_within_a_minute_is_refused(pinned: Any, stream: ClientConnection) -> None:
    wait_until(lambda: len(open_ids(pinned)) == 1)
    connection = next(iter(pinned.server.ws.connections.values()))
    earlier = time.monotonic() - 30  # a hundred messages spread over the last half minute
    connection.message_times.extend(earlier + i * 0.2 for i in range(100))
    stream.send("PING")
    assert receive(stream)["error"]["name"] == "TOO_MANY_REQUESTS"


def test_ping_starts_an_up_every_interval(pinned: Any, stream: ClientConnection) -> None:
    pinned.server.ws.up_interval = 0.2
    subscribe(stream, {"type": "ticker", "codes": [BTC], "is_only_realtime": True})
    assert receive(stream) == {"status": "UP"}  # unasked: the keep-alive


def test_an_idle_connection_is_closed(pinned: Any, stream: ClientConnection) -> None:
    pinned.server.ws.idle_timeout = 0.3
    with pytest.raises(ConnectionClosed):
        stream.recv(timeout=2.5)


def test_state_counts_connections_and_messages(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC]}))
    receive(stream)
    pinned.set_price("100500000")
    receive(stream)
    counts = pinned.state()["websocket"]
    assert counts["connections"] == 1
    assert counts["connects"] == 1
    assert counts["messages_sent"] == 2
    assert counts["messages_received"] == 1
    assert counts["open"][0]["subscriptions"] == [{"type": "ticker", "codes": [BTC], "level": None}]


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("ws_stall", {"seconds": -1}, "seconds"),
        ("ws_stall", {"seconds": "long"}, "seconds"),
        ("ws_refuse", {"status": 200}, "status"),
        ("ws_drop", {"connection": "x"}, "connection"),
    ],
)
def test_bad_fault_calls_say_what_is_wrong(pinned: Any, action: str, body: dict[str, Any], message: str) -> None:
    answer = requests.post(f"{pinned.base_url}/_sandbox/{action}", json=body, timeout=5)
    assert answer.status_code == 400
    assert message in answer.json()["error"]["message"]
