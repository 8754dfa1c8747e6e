"""The live client against the Upbit-like server: refusals, rate limits, bans, broken answers and connections.

Each case asserts exactly one exception class that names the action, and that no order is ever sent twice.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from exchange.exceptions import (
    ExchangeError,
    InvalidRequest,
    IpBanned,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    RetryLater,
    StopTrading,
)
from exchange.upbit import UpbitClient
from tests.exchange.upbit_like import (
    ACCESS,
    ACCOUNTS,
    HTML_502,
    MARKET_BUY,
    MARKET_BUY_ACCEPTED,
    MARKET_BUY_FILLED,
    ORDER_UUID,
    SECRET,
    Reply,
    _all_signatures_valid,
    make_client,
)

# --- refusals and rate limits ------------------------------------------------------------------------

TOO_MANY = Reply(429, "Too many API requests.", content_type="text/plain; charset=utf-8", remaining=None)


def test_429_in_plain_text_is_retried_then_answered(upbit, client):
    upbit.script("GET", "/v1/accounts", TOO_MANY, TOO_MANY)

    balances = client.get_accounts()

    assert balances[0].balance == Decimal("1000000.0")
    assert len(upbit.calls("GET", "/v1/accounts")) == 3
    assert (client.stats["http_429"], client.stats["retries"]) == (2, 2)


def test_429_that_persists_is_rate_limited_after_the_retries(upbit):
    client = make_client(upbit, max_retries=2)
    upbit.script("GET", "/v1/accounts", TOO_MANY, TOO_MANY, TOO_MANY, TOO_MANY)

    with pytest.raises(RateLimited, match="Too many API requests") as caught:
        client.get_accounts()

    assert caught.value.status == 429
    assert len(upbit.calls("GET", "/v1/accounts")) == 3


def test_429_on_an_order_resends_it_once_refused_and_places_it_once(upbit, client):
    upbit.script("POST", "/v1/orders", TOO_MANY)

    order = client.place_order(MARKET_BUY)

    posts = upbit.calls("POST", "/v1/orders")
    assert order.uuid == ORDER_UUID
    assert len(posts) == 2
    assert posts[0].body == posts[1].body  # the same identifier: a duplicate would be refused, never doubled
    _all_signatures_valid(upbit)  # each attempt carried a fresh nonce


@pytest.mark.parametrize(
    ("reply", "seconds"),
    [
        (Reply(418, "Too many API requests. Blocked for 30 seconds.", content_type="text/plain"), 30),
        (Reply(418, "", content_type=None, headers={"Retry-After": "45"}), 45),
        (Reply(418, {"error": {"name": "too_many_requests", "message": "5분 동안 요청이 차단됩니다."}}), 300),
        (Reply(418, "I'm a teapot", content_type="text/plain"), None),
        (Reply(418, b"", content_type=None, remaining=None), None),
    ],
    ids=["text-seconds", "retry-after", "json-minutes", "no-length", "empty"],
)
def test_418_is_a_ban_with_its_length_when_given_and_is_never_resent(upbit, client, reply, seconds):
    upbit.script("GET", "/v1/accounts", reply)

    with pytest.raises(IpBanned) as caught:
        client.get_accounts()

    assert isinstance(caught.value, StopTrading)
    assert caught.value.ban_seconds == seconds
    assert len(upbit.calls("GET", "/v1/accounts")) == 1


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": {"name": "jwt_verification", "message": "Jwt 토큰 검증에 실패했습니다."}}, StopTrading),
        (401, {"error": {"name": "no_authorization_ip", "message": "This is not a verified IP."}}, StopTrading),
        (403, {"error": {"name": "out_of_scope", "message": "권한이 부족합니다."}}, StopTrading),
        (401, {"error": {"name": "a_name_upbit_may_add_later", "message": "?"}}, StopTrading),
        (401, b"", StopTrading),
        (404, {"error": {"name": "order_not_found", "message": "주문을 찾지 못했습니다."}}, OrderNotFound),
        (400, {"error": {"name": "validation_error", "message": "market is missing"}}, InvalidRequest),
        (400, {"error": "a string, not an object"}, InvalidRequest),
        (404, {"error": {"name": 404, "message": "Code not found"}}, InvalidRequest),
        (401, {"error": {"name": "nonce_used", "message": "이미 요청한 nonce값이 다시 사용되었습니다."}}, RetryLater),
        (503, {"error": {"name": "market_offline", "message": "시스템 점검 중입니다."}}, RetryLater),
        (500, b"[" * 100_000, RetryLater),
        (400, b"[" * 100_000, InvalidRequest),
        (418, b"[" * 100_000, IpBanned),
    ],
)
def test_reads_refused_by_upbit_map_to_what_the_engine_must_do(upbit, client, status, body, expected):
    upbit.script("GET", "/v1/order", Reply(status, body))

    with pytest.raises(expected) as caught:
        client.get_order(uuid=ORDER_UUID)

    assert type(caught.value) is expected
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": {"name": "insufficient_funds_bid", "message": "주문가능한 금액(KRW)이 부족합니다."}}, OrderRejected),
        (400, {"error": {"name": "under_min_total_bid", "message": "최소주문금액 이상으로 주문해주세요"}}, OrderRejected),
        (400, {"error": {"name": "duplicated_identifier", "message": "identifier already used"}}, OrderRejected),
        (400, b"<html><body><h1>400 Bad Request</h1></body></html>", OrderRejected),
        (401, {"error": {"name": "invalid_query_payload", "message": "Failed to verify the query of Jwt."}}, StopTrading),
        (403, {"error": {"name": "market_offline", "message": "시스템 점검 중입니다."}}, RetryLater),
        (500, {"error": {"name": "server_error", "message": "internal"}}, OutcomeUnknown),
        (502, HTML_502, OutcomeUnknown),
        (504, b"", OutcomeUnknown),
    ],
)
def test_order_answers_map_to_rejected_stop_retry_or_unknown_and_are_sent_once(upbit, client, status, body, expected):
    upbit.script("POST", "/v1/orders", Reply(status, body, content_type="text/html" if isinstance(body, bytes) else None))

    with pytest.raises(expected) as caught:
        client.place_order(MARKET_BUY)

    assert type(caught.value) is expected
    if expected is OutcomeUnknown:
        assert caught.value.identifier == "buy-1"
    assert len(upbit.calls("POST", "/v1/orders")) == 1


def test_an_html_502_page_from_a_proxy_is_retry_later_with_a_short_message(upbit, client):
    upbit.script("GET", "/v1/accounts", Reply(502, HTML_502, content_type="text/html"))

    with pytest.raises(RetryLater) as caught:
        client.get_accounts()

    assert type(caught.value) is RetryLater
    assert caught.value.status == 502
    assert len(str(caught.value)) < 500


# --- broken answers and connections -------------------------------------------------------------------

BROKEN: dict[str, Reply] = {
    "empty-200": Reply(200, b""),
    "truncated-json": Reply(200, json.dumps(MARKET_BUY_FILLED)[:150]),
    "html-200": Reply(200, b"<html><body>Please sign in to the hotel Wi-Fi</body></html>", content_type="text/html"),
    "json-null": Reply(200, b"null"),
    "wrong-type": Reply(200, {"unexpected": "object"}),
    "nan-number": Reply(200, json.dumps({**MARKET_BUY_FILLED, "executed_volume": "NaN"})),
    "nan-literal": Reply(200, json.dumps(MARKET_BUY_FILLED).replace('"paid_fee": "2.99989592"', '"paid_fee": NaN')),
    "infinite-number": Reply(200, json.dumps({**MARKET_BUY_FILLED, "locked": "Infinity"})),
    "bad-time": Reply(200, json.dumps({**MARKET_BUY_FILLED, "created_at": "yesterday"})),
    "deep-nesting": Reply(200, b"[" * 100_000 + b"]" * 100_000),
    "invalid-utf8": Reply(200, b'{"market": "\xff\xfe"}'),
    "body-cut-short": Reply(200, json.dumps(MARKET_BUY_FILLED), fault="truncate"),
    "redirect": Reply(302, b"", headers={"Location": "https://example.invalid/"}),
    "connection-reset": Reply(fault="reset"),
    "hang-up": Reply(fault="close"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_answer_to_a_read_is_retry_later(upbit, client, case):
    upbit.script("GET", "/v1/order", BROKEN[case])

    with pytest.raises(RetryLater) as caught:
        client.get_order(uuid=ORDER_UUID)

    assert type(caught.value) is RetryLater
    assert client.get_order(uuid=ORDER_UUID).is_filled  # the next call works on a fresh answer


@pytest.mark.parametrize("case", sorted(set(BROKEN) - {"redirect"}))
def test_a_broken_answer_to_an_order_is_outcome_unknown_and_never_resent(upbit, client, case):
    reply = BROKEN[case]
    upbit.script(
        "POST", "/v1/orders", Reply(201, reply.body, reply.content_type, reply.remaining, reply.headers, fault=reply.fault)
    )

    with pytest.raises(OutcomeUnknown) as caught:
        client.place_order(MARKET_BUY)

    assert caught.value.identifier == "buy-1"
    assert len(upbit.calls("POST", "/v1/orders")) == 1


def test_a_redirect_on_an_order_is_not_followed(upbit, client):
    upbit.script("POST", "/v1/orders", Reply(307, b"", headers={"Location": "/v1/orders"}))

    with pytest.raises(ExchangeError) as caught:
        client.place_order(MARKET_BUY)

    assert isinstance(caught.value, (RetryLater, OutcomeUnknown))
    assert len(upbit.calls("POST", "/v1/orders")) == 1


def test_a_slow_answer_within_the_timeout_is_simply_waited_for(upbit):
    client = make_client(upbit, read_timeout=1.5)
    upbit.script("GET", "/v1/accounts", Reply(body=ACCOUNTS, delay=0.4))

    assert client.get_accounts()[1].balance == Decimal("0.00003736")


def test_an_answer_slower_than_the_timeout_is_retry_later_for_reads_and_unknown_for_orders(upbit):
    client = make_client(upbit, read_timeout=0.3)
    upbit.script("GET", "/v1/accounts", Reply(body=ACCOUNTS, delay=0.8))
    upbit.script("POST", "/v1/orders", Reply(201, MARKET_BUY_ACCEPTED, delay=0.8))

    with pytest.raises(RetryLater) as read:
        client.get_accounts()
    with pytest.raises(OutcomeUnknown) as order:
        client.place_order(MARKET_BUY)

    assert type(read.value) is RetryLater
    assert order.value.identifier == "buy-1"
    assert len(upbit.calls("POST", "/v1/orders")) == 1


def test_nothing_listening_is_retry_later_even_for_an_order():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on this port now
    client = UpbitClient(f"http://127.0.0.1:{port}", ACCESS, SECRET, connect_timeout=0.5)

    with pytest.raises(RetryLater) as caught:
        client.place_order(MARKET_BUY)

    assert type(caught.value) is RetryLater  # the connection never opened: nothing can have been placed


CALLS: dict[str, Callable[[UpbitClient], Any]] = {
    "ticker": lambda c: c.get_ticker("KRW-BTC"),
    "candles": lambda c: c.get_minute_candles("KRW-BTC", count=2),
    "orderbook": lambda c: c.get_orderbook("KRW-BTC"),
    "accounts": lambda c: c.get_accounts(),
    "chance": lambda c: c.get_order_chance("KRW-BTC"),
    "order": lambda c: c.get_order(uuid=ORDER_UUID),
    "cancel": lambda c: c.cancel_order(uuid=ORDER_UUID),
    "open orders": lambda c: c.get_open_orders("KRW-BTC"),
    "place": lambda c: c.place_order(MARKET_BUY),
}
ROUTES = {
    "ticker": ("GET", "/v1/ticker"),
    "candles": ("GET", "/v1/candles/minutes/1"),
    "orderbook": ("GET", "/v1/orderbook"),
    "accounts": ("GET", "/v1/accounts"),
    "chance": ("GET", "/v1/orders/chance"),
    "order": ("GET", "/v1/order"),
    "cancel": ("DELETE", "/v1/order"),
    "open orders": ("GET", "/v1/orders/open"),
    "place": ("POST", "/v1/orders"),
}
GARBAGE: list[bytes] = [
    b"[]",
    b"{}",
    b"[{}]",
    b"[null]",
    b'"text"',
    b"12345",
    b"[[1, 2, 3]]",
    b'[{"market": 5, "timestamp": "soon", "trade_price": [], "currency": {}}]',
    b'{"market": "KRW-BTC", "uuid": 1, "side": "sideways", "ord_type": "price", "state": "wait", "created_at": 0}',
    b'[{"market": "KRW-BTC", "timestamp": 99999999999999999999, "trade_price": 1, "orderbook_units": 7}]',
    b'[{"market": "KRW-BTC", "trade_price": 1e999, "timestamp": 1}]',
    b'{"bid_fee": "0.0005", "ask_fee": null, "market": []}',
]


@pytest.mark.parametrize("call", sorted(CALLS))
def test_no_answer_shape_ever_escapes_as_an_unexpected_exception(upbit, call):
    """Every garbage body on every call is either parsed or becomes one of the client's exceptions."""
    client = make_client(upbit, max_retries=0)
    method, path = ROUTES[call]
    for body in GARBAGE:
        upbit.script(method, path, Reply(201 if method == "POST" else 200, body))
        try:
            CALLS[call](client)
        except InvalidRequest as error:
            # An empty list is how Upbit answers quotation calls for a market it does not list.
            # A call may also succeed on some bodies, so pytest.raises does not fit this loop.
            assert call in ("ticker", "orderbook"), (body, error)  # noqa: PT017 - see above
            assert body == b"[]", (body, error)  # noqa: PT017 - see above
        except ExchangeError as error:
            expected = OutcomeUnknown if call == "place" else RetryLater
            assert isinstance(error, expected), (body, error)  # noqa: PT017 - see above
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{call} on {body[:60]!r} raised {type(error).__name__}: {error}")
