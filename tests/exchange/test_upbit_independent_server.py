"""The live client against an Upbit-like server written here from upbit-api.md alone (not the sandbox).

`UpbitLike` is a plain `http.server` that answers with the real service's published shapes (decimal
strings from the exchange API, JSON numbers from quotation, a filled market buy ending `cancel`
without volume fields, `/orders/chance` as an object or a one-item array) and misbehaves on request
the ways a network, a proxy or Upbit itself can: 429 in plain text, 418 with and without a ban length,
HTML error pages, empty and truncated bodies, slow answers, dropped and reset connections, missing
`Remaining-Req`. It checks every signature independently (PyJWT + hashlib, per the docs).

Each case asserts what the engine will be told: a typed result, or exactly one exception class that
names the action (RetryLater, RateLimited, IpBanned/StopTrading, OrderRejected/InvalidRequest,
OrderNotFound, OutcomeUnknown) — never an unexpected exception type, never a repeated order.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
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
from exchange.types import OrderRequest
from exchange.upbit import UpbitClient

ACCESS = "independent-access-key-0123456789abcdefghij"
SECRET = "independent-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
ORDER_UUID = "cdd92199-2897-4e14-9448-f923320408ad"

# --- the published shapes (upbit-api.md §2.2, §2.3) ---------------------------------------------------

LIMIT_BID_OPEN = {
    "market": "KRW-BTC",
    "uuid": ORDER_UUID,
    "side": "bid",
    "ord_type": "limit",
    "price": "155772000",
    "state": "wait",
    "created_at": "2025-08-09T16:52:49+09:00",
    "volume": "0.0001",
    "remaining_volume": "0.0001",
    "executed_volume": "0",
    "reserved_fee": "7.7886",
    "remaining_fee": "7.7886",
    "paid_fee": "0",
    "locked": "15584.9886",
    "prevented_volume": "0",
    "prevented_locked": "0",
    "trades_count": 0,
    "trades": [],
}
# What POST /v1/orders answers for a market buy the moment it is accepted: nothing filled yet.
MARKET_BUY_ACCEPTED = {
    "market": "KRW-BTC",
    "uuid": ORDER_UUID,
    "side": "bid",
    "ord_type": "price",
    "price": "6000",
    "state": "wait",
    "created_at": "2025-08-09T16:44:00+09:00",
    "executed_volume": "0",
    "reserved_fee": "3",
    "remaining_fee": "3",
    "paid_fee": "0",
    "locked": "6003",
    "prevented_volume": "0",
    "prevented_locked": "0",
    "trades_count": 0,
    "identifier": "buy-1",
}
# GET /v1/order for the same market buy once filled: `cancel`, no volume or remaining_volume.
MARKET_BUY_FILLED = {
    "market": "KRW-BTC",
    "uuid": ORDER_UUID,
    "side": "bid",
    "ord_type": "price",
    "price": "6000",
    "state": "cancel",
    "created_at": "2025-08-09T16:44:00+09:00",
    "executed_volume": "0.00003736",
    "reserved_fee": "3",
    "remaining_fee": "0.00010408",
    "paid_fee": "2.99989592",
    "locked": "0.20826408",
    "prevented_locked": "0",
    "trades_count": 1,
    "identifier": "buy-1",
    "trades": [
        {
            "market": "KRW-BTC",
            "uuid": "795dff29-bba6-49b2-baab-63473ab7931c",
            "price": "160594000",
            "volume": "0.00003736",
            "funds": "5999.79184",
            "trend": "up",
            "created_at": "2025-08-09T16:44:00.597751+09:00",
            "side": "bid",
        }
    ],
}
MARKET_SELL_DONE = {
    "market": "KRW-USDT",
    "uuid": "f3b4e5a6-0000-4000-8000-000000000001",
    "side": "ask",
    "ord_type": "market",
    "state": "done",
    "created_at": "2025-08-09T17:01:12+09:00",
    "volume": "5.377594",
    "remaining_volume": "0",
    "executed_volume": "5.377594",
    "reserved_fee": "0",
    "remaining_fee": "0",
    "paid_fee": "3.697095875",
    "locked": "0",
    "trades_count": 1,
    "trades": [
        {
            "market": "KRW-USDT",
            "uuid": "a1b2c3d4-0000-4000-8000-000000000002",
            "price": "1375",
            "volume": "5.377594",
            "funds": "7394.19175",
            "trend": "down",
            "created_at": "2025-08-09T17:01:12.123456+09:00",
            "side": "ask",
        }
    ],
}
ACCOUNTS = [
    {
        "currency": "KRW",
        "balance": "1000000.0",
        "locked": "0.0",
        "avg_buy_price": "0",
        "avg_buy_price_modified": False,
        "unit_currency": "KRW",
    },
    # Optional fields left out, as a minimal proxy or an older API version might.
    {"currency": "BTC", "balance": "0.00003736", "locked": "0"},
]
CHANCE = {
    "bid_fee": "0.0005",
    "ask_fee": "0.0005",
    "maker_bid_fee": "0.0005",
    "maker_ask_fee": "0.0005",
    "market": {
        "id": "KRW-BTC",
        "name": "BTC/KRW",
        "order_types": ["limit"],
        "order_sides": ["ask", "bid"],
        "bid_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "price"],
        "ask_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "market"],
        "bid": {"currency": "KRW", "min_total": "5000"},
        "ask": {"currency": "BTC", "min_total": "5000"},
        "max_total": "1000000000",
        "state": "active",
    },
    "bid_account": ACCOUNTS[0],
    "ask_account": {
        "currency": "BTC",
        "balance": "0.00003736",
        "locked": "0",
        "avg_buy_price": "160594000",
        "avg_buy_price_modified": False,
        "unit_currency": "KRW",
    },
}
# Quotation answers are JSON numbers, written here as raw text so their exact digits are on the wire.
TICKER = (
    '[{"market":"KRW-BTC","trade_date":"20250809","trade_time":"074400","trade_date_kst":"20250809",'
    '"trade_time_kst":"164400","trade_timestamp":1754725440597,"opening_price":159000000.0,"high_price":161000000,'
    '"low_price":158500000.0,"trade_price":160594000.0,"prev_closing_price":159000000.0,"change":"RISE",'
    '"change_price":1594000.0,"change_rate":0.0100251572,"signed_change_price":1594000.0,'
    '"signed_change_rate":0.0100251572,"trade_volume":0.00003736,"acc_trade_price":171234567890.12345,'
    '"acc_trade_price_24h":301234567890.98765,"acc_trade_volume":1070.58126,"acc_trade_volume_24h":1.23456789E+3,'
    '"highest_52_week_price":163325000.0,"highest_52_week_date":"2025-07-14","lowest_52_week_price":72100000.0,'
    '"lowest_52_week_date":"2024-08-05","timestamp":1754725440612}]'
)
CANDLES = (
    '[{"market":"KRW-BTC","candle_date_time_utc":"2025-08-09T07:44:00","candle_date_time_kst":"2025-08-09T16:44:00",'
    '"opening_price":160590000.0,"high_price":160600000.0,"low_price":160581000.0,"trade_price":160594000.0,'
    '"timestamp":1754725440597,"candle_acc_trade_price":42180437.92941,"candle_acc_trade_volume":0.26265049,"unit":1},'
    '{"market":"KRW-BTC","candle_date_time_utc":"2025-08-09T07:43:00","candle_date_time_kst":"2025-08-09T16:43:00",'
    '"opening_price":160573000.0,"high_price":160590000.0,"low_price":160570000.0,"trade_price":160590000.0,'
    '"timestamp":1754725379871,"candle_acc_trade_price":9887654.3,"candle_acc_trade_volume":6.157e-2,"unit":1}]'
)
ORDERBOOK = (
    '[{"market":"KRW-BTC","timestamp":1754725440612,"total_ask_size":1.25,"total_bid_size":2.5,'
    '"orderbook_units":[{"ask_price":160594000.0,"bid_price":160593000.0,"ask_size":0.00123456,"bid_size":1.5},'
    '{"ask_price":160595000.0,"bid_price":160592000.0,"ask_size":1.24876544,"bid_size":1.0}],"level":0}]'
)
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    + b"<hr><center>nginx</center>\r\n"
    + b"<!-- a padding comment that makes the page longer than any message should quote -->\r\n" * 20
    + b"</body>\r\n</html>\r\n"
)

QUOTATION_GROUPS = {"/v1/ticker": "ticker", "/v1/orderbook": "orderbook", "/v1/candles": "candle", "/v1/market": "market"}


# --- the server --------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer. `body` may be bytes, text, or anything JSON-serialisable."""

    status: int = 200
    body: Any = b""
    content_type: str | None = "application/json; charset=utf-8"
    remaining: str | None = "auto"
    """`Remaining-Req` value; "auto" = the route's group with plenty left; None = header left out."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    fault: str | None = None
    """"reset": RST instead of an answer; "close": hang up without answering; "truncate": promise more
    body than is sent, then hang up."""


@dataclass
class Seen:
    method: str
    path: str
    query: str
    body: bytes
    signed: bool
    signature_ok: bool
    problem: str = ""


def _group(path: str) -> str:
    for prefix, group in QUOTATION_GROUPS.items():
        if path.startswith(prefix):
            return group
    return "default"


def _verify(method: str, query: str, body: bytes, header: str | None, nonces: set[str]) -> str:
    """Upbit's documented checks, written from upbit-api.md §1 alone. Returns a problem, or ""."""
    if not header or not header.startswith("Bearer "):
        return "no bearer token"
    try:
        payload = jwt.decode(header[len("Bearer ") :], SECRET, algorithms=["HS256", "HS384", "HS512"])
    except jwt.PyJWTError as error:
        return f"bad token: {error}"
    if payload.get("access_key") != ACCESS:
        return "wrong access key"
    nonce = payload.get("nonce")
    if not nonce or nonce in nonces:
        return "nonce missing or reused"
    nonces.add(nonce)
    if method == "POST" and body:
        source = "&".join(f"{key}={value}" for key, value in json.loads(body).items())
    else:
        source = unquote(query)
    if not source:
        return "" if "query_hash" not in payload else "query_hash without parameters"
    if payload.get("query_hash") != hashlib.sha512(source.encode("utf-8")).hexdigest():
        return f"query_hash is not over {source!r}"
    if payload.get("query_hash_alg", "SHA512") != "SHA512":
        return "query_hash_alg is not SHA512"
    return ""


class UpbitLike:
    """Scripted replies per (method, path); a route with nothing scripted answers its default."""

    def __init__(self) -> None:
        self.defaults: dict[tuple[str, str], Reply] = {}
        self.scripts: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []
        self.nonces: set[str] = set()
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def default(self, method: str, path: str, reply: Reply) -> None:
        self.defaults[(method, path)] = reply

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self.scripts.setdefault((method, path), []).extend(replies)

    def next_reply(self, method: str, path: str) -> Reply:
        with self.lock:
            queue = self.scripts.get((method, path))
            if queue:
                return queue.pop(0)
        return self.defaults.get((method, path)) or Reply(404, {"error": {"name": 404, "message": "Code not found"}})

    def calls(self, method: str, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == method and seen.path == path]


class _Handler(BaseHTTPRequestHandler):
    app: UpbitLike
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        signed = "Authorization" in self.headers
        problem = _verify(self.command, parts.query, body, self.headers.get("Authorization"), self.app.nonces) if signed else ""
        with self.app.lock:
            self.app.seen.append(Seen(self.command, parts.path, parts.query, body, signed, signed and not problem, problem))
        reply = self.app.next_reply(self.command, parts.path)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.fault in ("reset", "close"):
            if reply.fault == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if isinstance(reply.body, bytes):
            payload = reply.body
        elif isinstance(reply.body, str):
            payload = reply.body.encode("utf-8")
        else:
            payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        remaining = reply.remaining
        if remaining == "auto":
            remaining = f"group={_group(parts.path)}; min=1800; sec=29"
        if remaining is not None:
            self.send_header("Remaining-Req", remaining)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.fault == "truncate":
            self.send_header("Content-Length", str(len(payload) + 500))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve


@pytest.fixture
def upbit() -> Iterator[UpbitLike]:
    server = UpbitLike()
    server.default("GET", "/v1/ticker", Reply(body=TICKER))
    server.default("GET", "/v1/candles/minutes/1", Reply(body=CANDLES))
    server.default("GET", "/v1/orderbook", Reply(body=ORDERBOOK))
    server.default("GET", "/v1/accounts", Reply(body=ACCOUNTS))
    server.default("GET", "/v1/orders/chance", Reply(body=CHANCE))
    server.default("POST", "/v1/orders", Reply(201, MARKET_BUY_ACCEPTED))
    server.default("GET", "/v1/order", Reply(body=MARKET_BUY_FILLED))
    server.default("DELETE", "/v1/order", Reply(body=LIMIT_BID_OPEN))
    server.default("GET", "/v1/orders/open", Reply(body=[LIMIT_BID_OPEN]))
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def make_client(server: UpbitLike, **options: Any) -> UpbitClient:
    options.setdefault("read_timeout", 2)
    options.setdefault("backoff_base_sec", 0.01)
    options.setdefault("backoff_cap_sec", 0.02)
    return UpbitClient(server.base_url, ACCESS, SECRET, **options)


@pytest.fixture
def client(upbit) -> Iterator[UpbitClient]:
    client = make_client(upbit)
    yield client
    client.close()


MARKET_BUY = OrderRequest(market="KRW-BTC", side="buy", ord_type="price", identifier="buy-1", price=Decimal("6000"))


def _all_signatures_valid(server: UpbitLike) -> None:
    signed = [seen for seen in server.seen if seen.signed]
    assert signed, "no signed request reached the server"
    assert [seen.problem for seen in signed if not seen.signature_ok] == []


# --- published shapes → typed results ----------------------------------------------------------------


def test_exchange_strings_become_exact_decimals_and_missing_fields_take_defaults(upbit, client):
    krw, btc = client.get_accounts()

    assert (krw.currency, krw.balance, krw.locked, krw.avg_buy_price) == ("KRW", Decimal("1000000.0"), Decimal("0.0"), 0)
    assert (btc.currency, btc.balance, btc.locked, btc.avg_buy_price, btc.unit_currency) == (
        "BTC",
        Decimal("0.00003736"),
        Decimal("0"),
        Decimal("0"),
        "KRW",
    )
    _all_signatures_valid(upbit)


def test_quotation_json_numbers_keep_every_digit(client):
    ticker = client.get_ticker("KRW-BTC")
    candles = client.get_minute_candles("KRW-BTC", count=2)
    book = client.get_orderbook("KRW-BTC")

    assert ticker.trade_price == Decimal("160594000.0")
    assert ticker.high_price == Decimal("161000000")
    assert ticker.acc_trade_volume_24h == Decimal("1234.56789")
    assert ticker.timestamp == datetime(2025, 8, 9, 7, 44, 0, 597000, tzinfo=UTC)
    assert [c.start.minute for c in candles] == [43, 44]  # newest first on the wire, oldest first here
    assert candles[0].volume == Decimal("0.06157")
    assert candles[1].value == Decimal("42180437.92941")
    assert (book.best_ask, book.best_bid, book.levels[0].ask_size) == (
        Decimal("160594000.0"),
        Decimal("160593000.0"),
        Decimal("0.00123456"),
    )


def test_market_buy_accepted_as_wait_then_filled_as_cancel_without_volume(upbit, client):
    accepted = client.place_order(MARKET_BUY)
    filled = client.get_order(uuid=accepted.uuid)

    assert (accepted.state, accepted.is_filled, accepted.executed_volume) == ("wait", False, 0)
    assert (filled.state, filled.is_final, filled.is_filled) == ("cancel", True, True)
    assert (filled.volume, filled.remaining_volume) == (None, None)
    assert filled.executed_volume == Decimal("0.00003736")
    assert filled.paid_fee == Decimal("2.99989592")
    assert filled.locked == Decimal("0.20826408")
    assert filled.filled_funds == Decimal("5999.79184")
    assert [(t.side, t.price, t.volume) for t in filled.trades] == [("buy", Decimal("160594000"), Decimal("0.00003736"))]
    assert filled.trades[0].created_at == datetime(2025, 8, 9, 7, 44, 0, 597751, tzinfo=UTC)
    assert json.loads(upbit.calls("POST", "/v1/orders")[0].body) == {
        "market": "KRW-BTC",
        "side": "bid",
        "price": "6000",
        "ord_type": "price",
        "identifier": "buy-1",
    }
    _all_signatures_valid(upbit)


def test_market_sell_done_has_no_price_and_limit_bid_open_keeps_its_lock(upbit, client):
    upbit.script("GET", "/v1/order", Reply(body=MARKET_SELL_DONE))

    sold = client.get_order(identifier="sell-1")
    (resting,) = client.get_open_orders("KRW-BTC")

    assert (sold.side, sold.ord_type, sold.state, sold.price, sold.is_filled) == ("sell", "market", "done", None, True)
    assert sold.paid_fee == Decimal("3.697095875")
    assert sold.filled_funds == Decimal("7394.19175")
    assert (resting.side, resting.state, resting.price, resting.remaining_volume) == (
        "buy",
        "wait",
        Decimal("155772000"),
        Decimal("0.0001"),
    )
    assert resting.locked == Decimal("15584.9886")
    assert upbit.calls("GET", "/v1/order")[0].query == "identifier=sell-1"
    # urllib3 percent-encodes the brackets on the wire; the hash is over the decoded text, as Upbit's docs say.
    assert "states[]=wait&states[]=watch" in unquote(upbit.calls("GET", "/v1/orders/open")[0].query)
    _all_signatures_valid(upbit)


def test_order_without_identifier_or_trades_count_from_before_identifiers_were_returned(upbit, client):
    old = {key: value for key, value in LIMIT_BID_OPEN.items() if key not in ("trades_count", "trades")}
    upbit.script("GET", "/v1/order", Reply(body=old))

    order = client.get_order(uuid=ORDER_UUID)

    assert (order.identifier, order.trades_count, order.trades) == (None, 0, ())


@pytest.mark.parametrize("shape", ["object", "one-item array"])
def test_order_chance_as_an_object_or_a_one_item_array(upbit, client, shape):
    upbit.script("GET", "/v1/orders/chance", Reply(body=CHANCE if shape == "object" else [CHANCE]))

    chance = client.get_order_chance("KRW-BTC")

    assert (chance.bid_fee, chance.ask_fee, chance.min_total, chance.max_total) == (
        Decimal("0.0005"),
        Decimal("0.0005"),
        Decimal("5000"),
        Decimal("1000000000"),
    )
    assert (chance.bid_account.balance, chance.ask_account.avg_buy_price) == (Decimal("1000000.0"), Decimal("160594000"))


def test_order_chance_with_two_entries_is_an_unexpected_shape(upbit, client):
    upbit.script("GET", "/v1/orders/chance", Reply(body=[CHANCE, CHANCE]))

    with pytest.raises(RetryLater, match="unexpected shape"):
        client.get_order_chance("KRW-BTC")


def test_remaining_req_missing_or_unreadable_on_some_answers(upbit, client):
    upbit.script(
        "GET",
        "/v1/ticker",
        Reply(body=TICKER, remaining="group=ticker; min=600; sec=7"),
        Reply(body=TICKER, remaining=None),
        Reply(body=TICKER, remaining="group=ticker; sec=oops"),
    )

    prices = [client.get_ticker("KRW-BTC").trade_price for _ in range(3)]

    assert prices == [Decimal("160594000.0")] * 3
    assert client.rate_limit_status()["ticker"]["sec"] == 7  # the last readable header is kept


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
            assert call in ("ticker", "orderbook") and body == b"[]", (body, error)
        except ExchangeError as error:
            expected = OutcomeUnknown if call == "place" else RetryLater
            assert isinstance(error, expected), (body, error)
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{call} on {body[:60]!r} raised {type(error).__name__}: {error}")
