"""The sandbox's public WebSocket stream over real sockets: Upbit's request format, snapshot then
realtime pushes on every price change, binary frames, PING, and REST still served on the same port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from tests.exchange.ws_helpers import BTC, receive, request, ws_url


@pytest.fixture
def pinned(sandbox: Any) -> Any:
    """The sandbox with KRW-BTC pinned (the walk holds still, so every push is one the test caused)."""
    sandbox.set_price("100000000")
    return sandbox


@pytest.fixture
def stream(pinned: Any) -> Iterator[ClientConnection]:
    with connect(ws_url(pinned), open_timeout=2) as ws:
        yield ws


def test_ticker_sends_a_snapshot_then_realtime_on_every_price_change(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC]}))
    snapshot = receive(stream)
    assert snapshot["type"] == "ticker"
    assert snapshot["code"] == BTC
    assert snapshot["stream_type"] == "SNAPSHOT"
    assert snapshot["trade_price"] == 100000000.0
    assert isinstance(snapshot["timestamp"], int)

    pinned.set_price("101000000")
    realtime = receive(stream)
    assert (realtime["type"], realtime["stream_type"], realtime["trade_price"]) == ("ticker", "REALTIME", 101000000.0)
    assert realtime["change"] in ("RISE", "EVEN", "FALL")
    assert realtime["ask_bid"] == "BID"  # the price went up


def test_orderbook_snapshot_has_the_requested_depth_and_moves_with_the_price(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "orderbook", "codes": [f"{BTC}.5"]}))
    snapshot = receive(stream)
    assert (snapshot["type"], snapshot["code"], snapshot["stream_type"]) == ("orderbook", BTC, "SNAPSHOT")
    assert len(snapshot["orderbook_units"]) == 5
    assert snapshot["orderbook_units"][0]["bid_price"] <= 100000000.0 < snapshot["orderbook_units"][0]["ask_price"]

    pinned.set_price("90000000")
    realtime = receive(stream)
    assert realtime["stream_type"] == "REALTIME"
    assert realtime["orderbook_units"][0]["bid_price"] <= 90000000.0 < realtime["orderbook_units"][0]["ask_price"]


def test_trade_pushes_each_price_change_with_a_new_sequential_id(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "trade", "codes": [BTC]}))
    snapshot = receive(stream)
    assert (snapshot["type"], snapshot["stream_type"], snapshot["trade_price"]) == ("trade", "SNAPSHOT", 100000000.0)

    pinned.set_price("99000000")
    first = receive(stream)
    pinned.set_price("98000000")
    second = receive(stream)
    assert [first["trade_price"], second["trade_price"]] == [99000000.0, 98000000.0]
    assert first["ask_bid"] == "ASK"
    assert second["sequential_id"] != first["sequential_id"]
    assert first["trade_volume"] > 0


def test_ping_text_is_answered_with_status_up(stream: ClientConnection) -> None:
    stream.send("PING")
    assert receive(stream) == {"status": "UP"}


def test_rest_is_still_served_on_the_websocket_port(pinned: Any, stream: ClientConnection) -> None:
    stream.send(request({"type": "ticker", "codes": [BTC]}))
    receive(stream)
    answer = requests.get(pinned.base_url + "/v1/ticker", params={"markets": BTC}, timeout=5)
    assert answer.status_code == 200
    assert answer.json()[0]["trade_price"] == 100000000.0
    assert pinned.state()["websocket"]["connections"] == 1
