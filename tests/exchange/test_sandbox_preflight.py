"""The sandbox endpoints the live pre-flight and the tick-size cache use: /v1/orders/test, /v1/api_keys,
/v1/orderbook/instruments, and key refusals by name; ccxt's own calls to them when ccxt is installed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchange.exceptions import StopTrading
from exchange.types import OrderRequest
from exchange.upbit import UpbitClient


def _client(sandbox) -> UpbitClient:
    return UpbitClient(sandbox.base_url, sandbox.access_key, sandbox.secret_key, read_timeout=2, connect_timeout=1, max_retries=0)


@pytest.fixture
def box(sandbox):
    sandbox.set_price("100000000")
    return sandbox


def test_a_test_order_answers_like_a_real_one_and_changes_nothing(box):
    box.set_balance("BTC", "0.5")
    before = box.state()
    body = {"market": "KRW-BTC", "side": "ask", "volume": "0.001", "price": "120000000", "ord_type": "limit", "identifier": "t-1"}

    answer = box.call("POST", "/v1/orders/test", body=body)

    assert answer.status_code == 201
    assert answer.headers["Remaining-Req"].startswith("group=order-test;")
    order = json.loads(answer.text)
    assert order["uuid"]
    assert (order["market"], order["side"], order["ord_type"], order["state"]) == ("KRW-BTC", "ask", "limit", "wait")
    assert (order["price"], order["volume"], order["identifier"]) == ("120000000", "0.001", "t-1")
    after = box.state()
    assert after["orders"] == []
    assert after["balances"] == before["balances"]
    # The identifier is still free: the real order with it is placed.
    assert box.call("POST", "/v1/orders", body=body).status_code == 201


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"market": "KRW-BTC", "side": "bid", "price": "4000", "ord_type": "price"}, "under_min_total_bid"),
        ({"market": "KRW-BTC", "side": "bid", "price": "2000000", "ord_type": "price"}, "insufficient_funds_bid"),
        ({"market": "KRW-BTC", "side": "bid", "volume": "0.001", "price": "100000500", "ord_type": "limit"}, "invalid_price_bid"),
        ({"market": "KRW-NOPE", "side": "bid", "price": "6000", "ord_type": "price"}, "notfoundmarket"),
    ],
)
def test_a_test_order_is_refused_exactly_as_the_real_one_would_be(box, body, name):
    test = box.call("POST", "/v1/orders/test", body=body)
    real = box.call("POST", "/v1/orders", body=body)

    assert (test.status_code, json.loads(test.text)["error"]["name"]) == (400, name)
    assert (real.status_code, json.loads(real.text)["error"]["name"]) == (400, name)


def test_the_client_s_test_order_places_nothing(box):
    client = _client(box)
    try:
        info = client.place_test_order(
            OrderRequest(market="KRW-BTC", side="buy", ord_type="price", identifier="probe-1", price=Decimal("5000"))
        )
    finally:
        client.close()

    assert info.market == "KRW-BTC"
    assert info.side == "buy"
    assert box.state()["orders"] == []
    assert box.state()["balances"]["KRW"]["balance"] == "1000000"


def test_api_keys_lists_the_key_with_its_expiry(box):
    box.set_key_expiry("2027-03-01T09:00:00+09:00")
    client = _client(box)
    try:
        keys = client.get_api_keys()
    finally:
        client.close()

    assert len(keys) == 1
    assert keys[0].matches_configured_key
    assert keys[0].expire_at.isoformat() == "2027-03-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "name", ["invalid_access_key", "jwt_verification", "expired_access_key", "no_authorization_ip", "out_of_scope"]
)
def test_reject_keys_answers_401_with_the_chosen_name(box, name):
    box.reject_keys(name=name)

    answer = box.call("GET", "/v1/accounts")

    assert answer.status_code == 401
    assert json.loads(answer.text)["error"]["name"] == name
    client = _client(box)
    try:
        with pytest.raises(StopTrading) as refused:
            client.get_accounts()
    finally:
        client.close()
    assert refused.value.name == name
    assert box.access_key not in str(refused.value)
    box.reset_faults()
    assert box.call("GET", "/v1/accounts").status_code == 200


def test_reject_keys_refuses_an_unknown_name(box):
    with pytest.raises(AssertionError, match="must be one of"):
        box.reject_keys(name="no_such_error")


def test_ccxt_reads_the_instruments_and_sends_a_test_order(box):
    ccxt = pytest.importorskip("ccxt")
    box.set_tick_size("5000")
    exchange = ccxt.upbit({"apiKey": box.access_key, "secret": box.secret_key, "timeout": 10000})
    exchange.urls["api"] = {"public": box.base_url, "private": box.base_url}

    instruments = exchange.public_get_orderbook_instruments({"markets": "KRW-BTC"})
    keys = exchange.private_get_api_keys()
    order = exchange.private_post_orders_test({"market": "KRW-BTC", "side": "bid", "price": "5000", "ord_type": "price"})

    assert instruments == [{"market": "KRW-BTC", "quote_currency": "KRW", "tick_size": "5000", "supported_levels": ["0"]}]
    assert [key["access_key"] for key in keys] == [box.access_key]
    assert order["ord_type"] == "price"
    assert box.state()["orders"] == []
