"""The sandbox's private WebSocket stream: JWT on the handshake, myOrder for orders placed and filled
over REST, myAsset for balance changes."""

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
def private(pinned: Any) -> Iterator[ClientConnection]:
    with connect(ws_url(pinned, private=True), additional_headers=pinned.token(), open_timeout=2) as ws:
        yield ws


def place_limit_buy(sandbox: Any, price: str) -> dict[str, Any]:
    body = {"market": BTC, "side": "bid", "volume": "0.001", "price": price, "ord_type": "limit"}
    answer = sandbox.call("POST", "/v1/orders", body=body)
    assert answer.status_code == 201, answer.text
    placed: dict[str, Any] = answer.json()
    return placed


def test_my_order_reports_an_order_placed_then_filled(pinned: Any, private: ClientConnection) -> None:
    subscribe(private, {"type": "myOrder", "codes": [BTC]})
    placed = place_limit_buy(pinned, "99000000")
    waiting = receive(private)
    assert (waiting["type"], waiting["code"], waiting["uuid"], waiting["state"]) == ("myOrder", BTC, placed["uuid"], "wait")
    assert (waiting["ask_bid"], waiting["order_type"], waiting["stream_type"]) == ("BID", "limit", "REALTIME")
    assert waiting["price"] == 99000000.0

    pinned.set_price("98000000")  # the price falls through the bid: it fills
    fill = receive(private)
    assert (fill["state"], fill["uuid"]) == ("trade", placed["uuid"])
    assert fill["trade_uuid"]
    assert fill["volume"] == 0.001
    assert fill["is_maker"] is True
    done = receive(private)
    assert (done["state"], done["executed_volume"], done["remaining_volume"]) == ("done", 0.001, 0.0)


def test_my_order_in_simple_format(pinned: Any, private: ClientConnection) -> None:
    subscribe(private, {"type": "myOrder"}, fmt="SIMPLE")
    placed = place_limit_buy(pinned, "99000000")
    waiting = receive(private)
    assert (waiting["ty"], waiting["uid"], waiting["s"], waiting["ab"], waiting["ot"]) == (
        "myOrder",
        placed["uuid"],
        "wait",
        "BID",
        "limit",
    )


def test_my_order_for_another_market_is_not_sent(pinned: Any, private: ClientConnection) -> None:
    subscribe(private, {"type": "myOrder", "codes": ["KRW-ETH"]})
    place_limit_buy(pinned, "99000000")
    private.send("PING")
    assert receive(private) == {"status": "UP"}


def test_my_asset_reports_balance_changes(pinned: Any, private: ClientConnection) -> None:
    subscribe(private, {"type": "myAsset"})
    pinned.set_balance("KRW", "500000")
    update = receive(private)
    assert (update["type"], update["stream_type"]) == ("myAsset", "REALTIME")
    assert update["assets"] == [{"currency": "KRW", "balance": 500000.0, "locked": 0.0}]
    assert update["asset_uuid"]
    assert "code" not in update

    place_limit_buy(pinned, "99000000")
    locked = receive(private)
    krw = next(a for a in locked["assets"] if a["currency"] == "KRW")
    assert krw["locked"] > 99000
    assert krw["balance"] == pytest.approx(500000 - krw["locked"])


def test_my_order_and_my_asset_in_one_request(pinned: Any, private: ClientConnection) -> None:
    subscribe(private, {"type": "myOrder"}, {"type": "myAsset"})
    place_limit_buy(pinned, "99000000")
    types = {receive(private)["type"], receive(private)["type"]}
    assert types == {"myOrder", "myAsset"}


def test_my_asset_with_codes_is_a_wrong_format(private: ClientConnection) -> None:
    private.send(request({"type": "myAsset", "codes": ["KRW"]}))
    assert receive(private)["error"]["name"] == "WRONG_FORMAT"


def test_public_types_are_not_served_on_the_private_endpoint(private: ClientConnection) -> None:
    private.send(request({"type": "ticker", "codes": [BTC]}))
    assert receive(private)["error"]["name"] == "INVALID_PARAM"


def test_a_reused_token_is_accepted_on_reconnect(pinned: Any) -> None:
    header = pinned.token()
    for _ in range(2):
        with connect(ws_url(pinned, private=True), additional_headers=header, open_timeout=2) as ws:
            ws.send("PING")
            assert receive(ws) == {"status": "UP"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        "wrong-secret",
        "wrong-key",
    ],
)
def test_a_bad_or_missing_jwt_gets_invalid_auth_and_a_close(pinned: Any, headers: Any) -> None:
    if headers == "wrong-secret":
        headers = pinned.token(secret_key="x" * 64)
    elif headers == "wrong-key":
        headers = pinned.token(access_key="someone-else")
    with connect(ws_url(pinned, private=True), additional_headers=headers, open_timeout=2) as ws:
        error = receive(ws)
        assert error == {"error": {"name": "INVALID_AUTH", "message": "인증 정보가 올바르지 않습니다."}}
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=2)
    assert pinned.state()["websocket"]["connections"] == 0


def test_rejected_keys_refuse_the_private_stream(pinned: Any) -> None:
    pinned.reject_keys(name="expired_access_key")
    with connect(ws_url(pinned, private=True), additional_headers=pinned.token(), open_timeout=2) as ws:
        assert receive(ws)["error"]["name"] == "INVALID_AUTH"


def test_list_subscriptions_on_the_private_stream(private: ClientConnection) -> None:
    private.send(request({"type": "myOrder"}, {"type": "myAsset"}))
    private.send(json.dumps([{"ticket": "q"}, {"method": "LIST_SUBSCRIPTIONS"}, {"format": "SIMPLE"}]))
    reply = receive_until(private, lambda m: m.get("mthd") == "LIST_SUBSCRIPTIONS")
    assert [r["ty"] for r in reply["rslt"]] == ["myOrder", "myAsset"]


def test_my_order_reports_a_cancel_and_my_asset_the_released_funds(pinned: Any, private: ClientConnection) -> None:
    placed = place_limit_buy(pinned, "99000000")
    subscribe(private, {"type": "myOrder"}, {"type": "myAsset"})
    answer = pinned.call("DELETE", "/v1/order", params={"uuid": placed["uuid"]})
    assert answer.status_code == 200, answer.text
    messages = [receive(private), receive(private)]
    cancel = next(m for m in messages if m["type"] == "myOrder")
    assert (cancel["uuid"], cancel["state"]) == (placed["uuid"], "cancel")
    asset = next(m for m in messages if m["type"] == "myAsset")
    assert asset["assets"] == [{"currency": "KRW", "balance": 1000000.0, "locked": 0.0}]


def test_every_private_connection_gets_the_order_events(pinned: Any, private: ClientConnection) -> None:
    subscribe(private, {"type": "myOrder"})
    with connect(ws_url(pinned, private=True), additional_headers=pinned.token(), open_timeout=2) as second:
        subscribe(second, {"type": "myOrder"})
        placed = place_limit_buy(pinned, "99000000")
        assert receive(private)["uuid"] == receive(second)["uuid"] == placed["uuid"]
