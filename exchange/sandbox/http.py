"""The sandbox's HTTP side: the request handler, Upbit's REST route table, parameters read as Upbit
reads them, and JSON answers with exact decimals. Standard library only.

The handler knows nothing about markets or orders: it turns each HTTP request into a `Request`, asks
the application (`App.handle`) for an `Answer` and writes it out, with `Remaining-Req` and the
faults the answer carries (a stall before answering, a dropped connection). Other protocols (a
WebSocket endpoint) get modules of their own beside this one.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from exchange.sandbox.auth import body_hash_strings, query_hash_strings
from exchange.sandbox.ratelimit import GROUP_LIMITS, remaining_req

logger = logging.getLogger("exchange.sandbox")


# --- JSON with exact decimals ------------------------------------------------------------------------


def _number(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + (".0" if "." not in text else "")


def dumps(value: Any) -> str:
    """JSON where Decimals are written as exact JSON numbers (Upbit's quotation style: 130000000.0)."""
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# --- requests and answers ----------------------------------------------------------------------------


class Params:
    """Request parameters in arrival order; `name[]` arrays read with getlist."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: Any = None) -> Any:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[Any]:
        values: list[Any] = []
        for key, value in self.pairs:
            if key in (name, f"{name}[]"):
                values.extend(value if isinstance(value, list) else [value])
        return values

    def as_dict(self) -> dict[str, Any]:
        return dict(self.pairs)

    def __bool__(self) -> bool:
        return bool(self.pairs)


@dataclass(slots=True)
class Request:
    method: str
    path: str
    raw_query: str
    body: bytes
    headers: dict[str, str]
    client: str
    params: Params = field(default_factory=lambda: Params([]))
    hash_strings: set[str] | None = None
    server_port: int = 0  # the port the request arrived on: the control endpoint's own origin


@dataclass(slots=True)
class Answer:
    status: int
    body: str
    group: str = "default"
    remaining: int | None = None
    content_type: str = "application/json; charset=utf-8"
    drop: bool = False
    stall_after: float = 0.0


class HttpError(Exception):
    def __init__(self, status: int, name: str | int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


def error_body(name: str | int, message: str) -> str:
    return dumps({"error": {"name": name, "message": message}})


# --- routing -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    group: str
    private: bool
    handler: str


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v1/market/all"): Route("market", False, "market_all"),
    ("GET", "/v1/ticker"): Route("ticker", False, "ticker"),
    ("GET", "/v1/ticker/all"): Route("ticker", False, "ticker_all"),
    ("GET", "/v1/candles/days"): Route("candle", False, "candles_days"),
    ("GET", "/v1/candles/weeks"): Route("candle", False, "candles_weeks"),
    ("GET", "/v1/candles/months"): Route("candle", False, "candles_months"),
    ("GET", "/v1/candles/years"): Route("candle", False, "candles_years"),
    ("GET", "/v1/orderbook"): Route("orderbook", False, "orderbook"),
    ("GET", "/v1/orderbook/instruments"): Route("orderbook", False, "orderbook_instruments"),
    ("GET", "/v1/trades/ticks"): Route("trade", False, "trades_ticks"),
    ("GET", "/v1/accounts"): Route("default", True, "accounts"),
    ("GET", "/v1/api_keys"): Route("default", True, "api_keys"),
    ("GET", "/v1/orders/chance"): Route("default", True, "orders_chance"),
    ("POST", "/v1/orders"): Route("order", True, "orders_create"),
    ("POST", "/v1/orders/test"): Route("order-test", True, "orders_test"),
    ("GET", "/v1/order"): Route("default", True, "order_get"),
    ("DELETE", "/v1/order"): Route("default", True, "order_cancel"),
    ("GET", "/v1/orders/open"): Route("default", True, "orders_open"),
    ("DELETE", "/v1/orders/open"): Route("order-cancel-all", True, "orders_cancel_open"),
    ("GET", "/v1/orders/closed"): Route("default", True, "orders_closed"),
    ("GET", "/v1/orders/uuids"): Route("default", True, "orders_uuids"),
    ("GET", "/v1/orders"): Route("default", True, "orders_legacy"),
}
MINUTE_CANDLES = "/v1/candles/minutes/"


def route(method: str, path: str) -> tuple[Route | None, bool]:
    """(route, path_exists): path_exists tells a 405 from a 404."""
    if path.startswith(MINUTE_CANDLES):
        return (Route("candle", False, "candles_minutes") if method == "GET" else None), True
    found = ROUTES.get((method, path))
    if found:
        return found, True
    return None, any(p == path for _, p in ROUTES)


def read_params(request: Request, route: Route) -> None:
    """Fill `request.params` and the strings its signature may hash, as Upbit reads each method."""
    content_type = request.headers.get("content-type", "")
    body = request.body.strip()
    if request.method == "POST":
        if not body:
            request.params = Params([])
            request.hash_strings = None
            return
        try:
            pairs = json.loads(body, object_pairs_hook=list, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise HttpError(400, "invalid_parameter", "The body must be JSON (Content-Type: application/json)") from None
        if not isinstance(pairs, list):
            raise HttpError(400, "invalid_parameter", "The body must be a JSON object")
        request.params = Params(pairs)
        if pairs:
            # A client that sends JSON numbers hashed them as it wrote them (`5e-05` from Python's str(float)),
            # so their literal text is a candidate too.
            literal = json.loads(body, object_pairs_hook=list, parse_float=str, parse_int=str)
            request.hash_strings = body_hash_strings(pairs) | body_hash_strings(literal)
        else:
            request.hash_strings = None
        return
    if request.method == "DELETE" and body and route.private:
        raise HttpError(
            400,
            "QUERY_PARAMETER_NOT_SUPPORTED",
            "본 API는 Query Parameter만 지원합니다. (This API accepts query parameters only; send no request body.)",
        )
    if request.raw_query:
        raw = request.raw_query
    elif body and request.method == "GET" and "json" not in content_type:
        # pyupbit sends GET parameters as a form body.
        raw = body.decode("utf-8", errors="replace")
    else:
        raw = ""
    pairs = parse_qsl(raw, keep_blank_values=True)
    request.params = Params(list(pairs))
    request.hash_strings = query_hash_strings(raw) if raw else None


# --- the HTTP server -----------------------------------------------------------------------------------


class App(Protocol):
    def handle(self, request: Request) -> Answer: ...

    def upgrade(self, sock: socket.socket, rfile: BufferedIOBase, path: str, headers: list[tuple[str, str]], client: str) -> None:
        """Serve a WebSocket upgrade request on this connection until it ends."""


class Handler(BaseHTTPRequestHandler):
    app: App
    protocol_version = "HTTP/1.1"
    server_version = "autocoin-sandbox"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after a minute
    # Headers and body go out in two writes; with Nagle on, each answer waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        if self.command == "GET" and self.headers.get("Upgrade", "").strip().lower() == "websocket":
            self.close_connection = True
            self.app.upgrade(
                self.connection, self.rfile, urlsplit(self.path).path, list(self.headers.items()), self.client_address[0]
            )
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            raw_query=parts.query,
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
            client=self.client_address[0],
            server_port=int(self.connection.getsockname()[1]),
        )
        try:
            answer = self.app.handle(request)
        except Exception:  # a bug in the sandbox must still answer like a server would
            logger.exception("sandbox: error while answering %s %s", self.command, parts.path)
            answer = Answer(500, error_body("server_error", "sandbox: internal error"))
        if answer.stall_after:
            time.sleep(answer.stall_after)
        if answer.drop:
            # The request was processed (an order IS placed); the client never hears back.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = answer.body.encode("utf-8")
        remaining = answer.remaining if answer.remaining is not None else int(GROUP_LIMITS.get(answer.group, 30)) - 1
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Remaining-Req", remaining_req(answer.group, remaining))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve
    do_PUT = _serve
    do_PATCH = _serve


def http_server(app: App, host: str, port: int) -> ThreadingHTTPServer:
    """A threading HTTP server answering through `app`; each connection gets its own daemon thread."""
    handler = type("SandboxHandler", (Handler,), {"app": app})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    return httpd
