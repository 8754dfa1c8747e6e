"""An Upbit-like server written from upbit-api.md alone (not the sandbox), for the live client's tests.

`UpbitLike` is a plain `http.server` that answers with the real service's published shapes (decimal
strings from the exchange API, JSON numbers from quotation, a filled market buy ending `cancel`
without volume fields, `/orders/chance` as an object or a one-item array) and misbehaves on request
the ways a network, a proxy or Upbit itself can: 429 in plain text, 418 with and without a ban length,
HTML error pages, empty and truncated bodies, slow answers, dropped and reset connections, missing
`Remaining-Req`. It checks every signature independently (PyJWT + hashlib, per the docs).
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import pytest

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

    def log_message(self, format: str, *args: Any) -> None:
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
