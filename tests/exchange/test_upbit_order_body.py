"""Local order checks: tick-grid snapping, volume precision, and refusing bad combinations before sending."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from exchange.exceptions import OrderRejected, RetryLater
from exchange.rules import is_on_tick, krw_tick_size
from exchange.types import OrderRequest
from exchange.upbit import UpbitClient, format_decimal


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def client():
    # Nothing listens on this port: anything that is actually sent fails with RetryLater, not OrderRejected.
    return UpbitClient(f"http://127.0.0.1:{unused_port()}", "access-key-0123456789", "secret-key-0123456789abcdef")


def request(**overrides) -> OrderRequest:
    fields = {
        "market": "KRW-BTC",
        "side": "buy",
        "ord_type": "limit",
        "identifier": "autocoin-test-1",
        "price": Decimal("100000000"),
        "volume": Decimal("0.001"),
    }
    fields.update(overrides)
    return OrderRequest(**fields)


@pytest.mark.parametrize("price", [Decimal("100000450"), Decimal("5123.7"), Decimal("123456.78"), Decimal("999999")])
def test_off_tick_buy_price_snaps_down_and_sell_price_snaps_up(client, price):
    buy = Decimal(client.order_body(request(side="buy", price=price))["price"])
    sell = Decimal(client.order_body(request(side="sell", price=price))["price"])

    assert is_on_tick(buy)
    assert is_on_tick(sell)
    assert buy <= price <= sell
    assert price - buy < krw_tick_size(price)
    assert sell - price <= krw_tick_size(sell)


def test_on_tick_price_is_sent_unchanged(client):
    assert client.order_body(request(price=Decimal("100001000")))["price"] == "100001000"


def test_volume_is_cut_to_eight_decimals_never_rounded_up(client):
    body = client.order_body(request(volume=Decimal("0.123456789999")))

    assert body["volume"] == "0.12345678"


def test_body_has_wire_sides_string_values_and_a_stable_order(client):
    body = client.order_body(request(side="sell", time_in_force="post_only"))

    assert list(body) == ["market", "side", "volume", "price", "ord_type", "identifier", "time_in_force"]
    assert body["side"] == "ask"
    assert all(isinstance(value, str) for value in body.values())


def test_market_orders_carry_only_their_amount(client):
    buy = client.order_body(request(ord_type="price", price=Decimal("10000"), volume=None))
    sell = client.order_body(request(side="sell", ord_type="market", price=None, volume=Decimal("0.5")))

    assert buy == {"market": "KRW-BTC", "side": "bid", "price": "10000", "ord_type": "price", "identifier": "autocoin-test-1"}
    assert sell == {"market": "KRW-BTC", "side": "ask", "volume": "0.5", "ord_type": "market", "identifier": "autocoin-test-1"}


def test_decimal_format_has_no_exponent():
    assert format_decimal(Decimal("1E+8")) == "100000000"
    assert format_decimal(Decimal("0.00000001")) == "0.00000001"
    assert format_decimal(Decimal("5000.000")) == "5000"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"price": None}, "needs both price and volume"),
        ({"volume": None}, "needs both price and volume"),
        ({"side": "sell", "ord_type": "price", "volume": None}, "buys only"),
        ({"ord_type": "price"}, "no volume"),
        ({"ord_type": "market", "price": None}, "sells only"),
        ({"side": "sell", "ord_type": "market"}, "no price"),
        ({"ord_type": "best", "volume": None}, "ioc or fok"),
        ({"ord_type": "price", "volume": None, "time_in_force": "post_only"}, "post_only is only for limit"),
        ({"side": "sell", "ord_type": "market", "price": None, "time_in_force": "ioc"}, "only for limit and best"),
        ({"time_in_force": "gtc"}, "time_in_force must be one of"),
        ({"ord_type": "stop"}, "ord_type must be"),
        ({"side": "bid"}, "side must be buy or sell"),
        ({"price": Decimal("-1")}, "positive Decimal"),
        ({"volume": Decimal("0.000000001")}, "below the smallest tradable amount"),
        ({"identifier": ""}, "identifier is required"),
    ],
)
def test_bad_combinations_are_rejected_locally_with_a_reason(client, overrides, reason):
    with pytest.raises(OrderRejected) as caught:
        client.place_order(request(**overrides))

    assert caught.value.name == "validation_error"
    assert reason in str(caught.value)
    assert client.stats["calls"] == 0


def test_a_valid_order_is_actually_sent(client):
    # Proof that the rejections above happened before any network traffic: a valid order reaches the (closed) port.
    with pytest.raises(RetryLater):
        client.place_order(request())

    assert client.stats["calls"] == 1
