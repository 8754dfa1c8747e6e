"""Upbit's WebSocket request rules in the sandbox: formats (SIMPLE and the LIST variants), snapshot and
realtime flags, replace semantics, candles, LIST_SUBSCRIPTIONS and each request error's name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect

from tests.exchange.ws_helpers import BTC, receive, receive_until, request, subscribe, ws_url


@pytest.fixture
def pinned(sandbox: Any) -> Any:
    sandbox.set_price("100000000")
    return sandbox


@pytest.fixture
def stream(pinned: Any) -> Iterator[ClientConnection]:
    with connect(ws_url(pinned), open_timeout=2) as ws:
        yield ws


def nothing_else_queued(ws: ClientConnection) -> None:
    """PING's answer comes next only when no other push was waiting before it."""
    ws.send("PING")
    assert receive(ws) == {"status": "UP"}


def test_simple_format_uses_upbits_short_field_names(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC]}, {"type": "orderbook", "codes": [f"{BTC}.1"]}, fmt="SIMPLE"))
    ticker = receive(stream)
    assert (ticker["ty"], ticker["cd"], ticker["st"], ticker["tp"]) == ("ticker", BTC, "SNAPSHOT", 100000000.0)
    assert {"op", "hp", "lp", "pcp", "scr", "atv24h", "ttms", "tms", "h52wp", "ms"} <= ticker.keys()
    assert "trade_price" not in ticker
    book = receive(stream)
    assert book["ty"] == "orderbook"
    assert {"ap", "bp", "as", "bs"} == book["obu"][0].keys()
    assert {"tas", "tbs", "lv"} <= book.keys()


def test_simple_trade_names_its_date_td(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "trade", "codes": [BTC]}, fmt="SIMPLE"))
    tape = receive(stream)
    assert {"tp", "tv", "ab", "td", "ttm", "ttms", "sid", "bap", "bbs"} <= tape.keys()
    assert len(tape["td"]) == len("2026-01-01")


def test_json_list_sends_arrays_of_objects(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC]}, fmt="JSON_LIST"))
    frame = receive(stream)
    assert isinstance(frame, list)
    assert frame[0]["type"] == "ticker"
    pinned.set_price("100100000")
    assert receive(stream)[0]["trade_price"] == 100100000.0


def test_simple_list_sends_arrays_with_short_names(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "trade", "codes": [BTC]}, fmt="SIMPLE_LIST"))
    frame = receive(stream)
    assert isinstance(frame, list)
    assert (frame[0]["ty"], frame[0]["st"]) == ("trade", "SNAPSHOT")


def test_is_only_snapshot_sends_no_realtime(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC], "is_only_snapshot": True}))
    assert receive(stream)["stream_type"] == "SNAPSHOT"
    pinned.set_price("101000000")
    nothing_else_queued(stream)


@pytest.mark.parametrize("flag", ["is_only_realtime", "isOnlyRealtime"])
def test_is_only_realtime_skips_the_snapshot(pinned: Any, stream: ClientConnection, flag: str) -> None:
    subscribe(stream, {"type": "ticker", "codes": [BTC], flag: True})
    pinned.set_price("101000000")
    first = receive(stream)
    assert (first["stream_type"], first["trade_price"]) == ("REALTIME", 101000000.0)


def test_a_new_request_replaces_the_subscriptions(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC]}))
    assert receive(stream)["type"] == "ticker"
    stream.send(request({"type": "orderbook", "codes": [BTC]}))
    assert receive(stream)["type"] == "orderbook"
    pinned.set_price("102000000")
    assert receive(stream)["type"] == "orderbook"
    nothing_else_queued(stream)  # the ticker subscription is gone


def test_unknown_and_lower_case_codes_get_nothing_and_no_error(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": ["KRW-NOPE", "krw-btc", BTC]}))
    assert receive(stream)["code"] == BTC
    nothing_else_queued(stream)


def test_candle_snapshot_then_a_push_when_a_trade_changes_it(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "candle.1m", "codes": [BTC]}))
    snapshot = receive(stream)
    assert (snapshot["type"], snapshot["stream_type"], snapshot["trade_price"]) == ("candle.1m", "SNAPSHOT", 100000000.0)
    assert snapshot["candle_date_time_utc"].endswith(":00")
    assert {"candle_date_time_kst", "opening_price", "high_price", "low_price", "candle_acc_trade_volume"} <= snapshot.keys()
    pinned.set_price("103000000")
    pushed = receive(stream)
    assert (pushed["stream_type"], pushed["trade_price"]) == ("REALTIME", 103000000.0)
    assert pushed["high_price"] >= 103000000.0


def test_one_second_candles_follow_the_trades(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "candle.1s", "codes": [BTC]}, fmt="SIMPLE"))
    assert receive(stream)["ty"] == "candle.1s"
    pinned.set_price("99000000")
    pushed = receive(stream)
    assert (pushed["st"], pushed["tp"]) == ("REALTIME", 99000000.0)
    assert pushed["catv"] > 0


def test_list_subscriptions_names_what_is_subscribed(stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC], "is_only_realtime": True}))
    stream.send(json.dumps([{"ticket": "q"}, {"method": "LIST_SUBSCRIPTIONS"}]))
    reply = receive_until(stream, lambda m: m.get("method") == "LIST_SUBSCRIPTIONS")
    assert reply["result"] == [{"type": "ticker", "codes": [BTC], "level": None}]
    assert reply["ticket"] == "q"


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ("hello", "WRONG_FORMAT"),
        (json.dumps({"ticket": "t", "type": "ticker"}), "WRONG_FORMAT"),
        (json.dumps([{"type": "ticker", "codes": [BTC]}]), "NO_TICKET"),
        (json.dumps([{"ticket": "t"}]), "NO_TYPE"),
        (json.dumps([{"ticket": "t"}, {"codes": [BTC]}]), "NO_TYPE"),
        (json.dumps([{"ticket": "t"}, {"type": "ticker"}]), "NO_CODES"),
        (json.dumps([{"ticket": "t"}, {"type": "trade", "codes": []}]), "NO_CODES"),
        (json.dumps([{"ticket": "t"}, {"type": "nope", "codes": [BTC]}]), "INVALID_PARAM"),
        (json.dumps([{"ticket": "t"}, {"type": "candle.2m", "codes": [BTC]}]), "INVALID_PARAM"),
        (json.dumps([{"ticket": "t"}, {"type": "myOrder"}]), "INVALID_PARAM"),
        (json.dumps([{"ticket": "t"}, {"type": "ticker", "codes": [BTC]}, {"format": "XML"}]), "INVALID_PARAM"),
    ],
)
def test_a_bad_request_gets_upbits_error_then_a_normal_close(stream: ClientConnection, message: str, name: str) -> None:
    stream.send(message)
    error = receive(stream)
    assert error["error"]["name"] == name
    assert error["error"]["message"]
    with pytest.raises(ConnectionClosedOK) as closed:
        stream.recv(timeout=2)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000
