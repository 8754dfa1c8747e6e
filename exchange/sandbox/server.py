"""An Upbit-compatible exchange on 127.0.0.1: Upbit's REST dialect, no money at risk.

`SandboxServer` serves `/v1/...` like api.upbit.com (JWT auth, Remaining-Req, rate limits, Upbit's
error names, JSON numbers for quotation and decimal strings for exchange data) and a small control
endpoint under `/_sandbox/...` (loopback only) for tests and drills. Standard library only.

    server = SandboxServer(port=0)
    server.start()          # serves in a daemon thread
    ... requests.get(server.base_url + "/v1/ticker", params={"markets": "KRW-BTC"}) ...
    server.stop()

See docs/SANDBOX.md for every endpoint, control call and `runsandbox` flag.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exchange.rules import krw_tick_size, round_to_tick
from exchange.sandbox.auth import AuthError, Verifier, body_hash_strings, query_hash_strings
from exchange.sandbox.faults import Fault, Faults, FaultSpecError, fault_from_json
from exchange.sandbox.ledger import CLOSED_STATES, KST, OPEN_STATES, Ledger, Order, Rejected, dec
from exchange.sandbox.prices import (
    DAY_MINUTES,
    Bar,
    CsvSource,
    MarketFeed,
    SyntheticSource,
    aggregate,
    minute_of,
    moment_of,
    quantize8,
    seconds_of,
)
from exchange.sandbox.ratelimit import GROUP_LIMITS, QUOTATION_GROUPS, TOO_MANY, RateLimiter, remaining_req
from exchange.types import ZERO, OrderBookLevel

logger = logging.getLogger("exchange.sandbox")

# The documented sandbox key pair, used when no Upbit keys are configured. It opens nothing real.
SANDBOX_ACCESS_KEY = "sandbox-access-key-0000000000000000000000"
SANDBOX_SECRET_KEY = "sandbox-secret-key-do-not-use-for-real-money-000000000000000000000"

ORDERBOOK_LEVELS = 30
MINUTE_UNITS = frozenset({1, 3, 5, 10, 15, 30, 60, 240})
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
COIN_NAMES = {
    "BTC": ("비트코인", "Bitcoin"),
    "ETH": ("이더리움", "Ethereum"),
    "XRP": ("엑스알피(리플)", "XRP"),
    "SOL": ("솔라나", "Solana"),
    "DOGE": ("도지코인", "Dogecoin"),
}

# Quotation errors carry the HTTP status as an integer name (upbit-api.md §5).
MISSING_PARAMETER = "Missing request parameter error. Check the required parameters!"
TYPE_MISMATCH = "Type mismatch error. Check the parameters type!"
INVALID_PARAMETER = "Invalid parameter. Check the given value!"


def _default_keys() -> tuple[str, str]:
    try:
        from django.conf import settings

        if settings.configured and settings.UPBIT_ACCESS_KEY and settings.UPBIT_SECRET_KEY:
            return settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY
    except Exception:  # noqa: BLE001 - outside a Django project the documented pair is used
        pass
    return SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY


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


def _error_body(name: str | int, message: str) -> str:
    return dumps({"error": {"name": name, "message": message}})


def _quotation_error(status: int, message: str) -> HttpError:
    return HttpError(status, status, message)


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


def _route(method: str, path: str) -> tuple[Route | None, bool]:
    """(route, path_exists): path_exists tells a 405 from a 404."""
    if path.startswith(MINUTE_CANDLES):
        return (Route("candle", False, "candles_minutes") if method == "GET" else None), True
    route = ROUTES.get((method, path))
    if route:
        return route, True
    return None, any(p == path for _, p in ROUTES)


# --- the server --------------------------------------------------------------------------------------


class SandboxServer:
    """The sandbox exchange, usable in-process (`start()` serves in a daemon thread) or from `runsandbox`.

    `prices` is "synthetic" (a seeded random walk) or the path of a candle CSV (Upbit's candle columns
    or pyupbit's OHLCV layout). `clock` returns the current aware datetime (default: real time); the
    control endpoint can move it forward. `rate_limit=False` turns quotas off (benchmarks);
    `ban_after=N` answers 418 once more than N requests in a minute were refused with 429."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        markets: tuple[str, ...] | list[str] = ("KRW-BTC",),
        prices: str | Path = "synthetic",
        seed: int = 1,
        krw: Decimal = Decimal("1000000"),
        access_key: str | None = None,
        secret_key: str | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        rate_limit: bool = True,
        ban_after: int | None = None,
        ban_seconds: float = 60.0,
        csv_history: int | None = None,
        faults: list[Fault] | None = None,
        reject_keys: bool = False,
    ) -> None:
        if not markets:
            raise ValueError("at least one market is needed, e.g. KRW-BTC")
        for market in markets:
            if not market.startswith("KRW-") or len(market) < 5:
                raise ValueError(f"market {market!r} is not a KRW market code; use the form KRW-BTC")
        if krw < 0:
            raise ValueError(f"krw must not be negative: {krw}")
        default_access, default_secret = _default_keys()
        self.host = host
        self.requested_port = port
        self.markets = tuple(markets)
        self.seed = seed
        self.access_key = access_key or default_access
        self.secret_key = secret_key or default_secret
        self._clock = clock or (lambda: datetime.now(UTC))
        self.clock_offset = 0.0
        self.lock = threading.RLock()
        now = self.now()
        self.feeds: dict[str, MarketFeed] = {}
        for market in self.markets:
            if str(prices) == "synthetic":
                source: SyntheticSource | CsvSource = SyntheticSource(market, seed)
            else:
                source = CsvSource(Path(prices), now_minute=minute_of(now), history=csv_history)
            self.feeds[market] = MarketFeed(market, source)
        self.prices_label = str(prices)
        self.ledger = Ledger(krw=krw)
        self.verifier = Verifier(self.access_key, self.secret_key)
        self.verifier.reject_all = reject_keys
        self.limiter = RateLimiter(enabled=rate_limit, ban_after=ban_after, ban_seconds=ban_seconds)
        self.faults = Faults()
        for fault in faults or ():
            self.faults.add(fault)
        self._swept_at = seconds_of(now)
        self._cache: dict[Any, Any] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        handler = type("SandboxHandler", (_Handler,), {"app": self})
        httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        # A short poll interval makes stop() quick: tests start and stop a server per test.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-exchange", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the management command)."""
        handler = type("SandboxHandler", (_Handler,), {"app": self})
        self._httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        self._httpd.daemon_threads = True
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """Like https://api.upbit.com: without /v1."""
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- time and market state -------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock() + timedelta(seconds=self.clock_offset)

    def feed(self, market: str) -> MarketFeed:
        return self.feeds[market]

    def current_price(self, market: str, seconds: float) -> Decimal:
        price = self.feeds[market].price(seconds)
        if price is None:
            raise HttpError(503, "market_offline", f"{market} has no price yet")
        return price

    def book(self, market: str, seconds: float) -> list[OrderBookLevel]:
        """30 levels around the current price, best first, sizes fixed per price level (a stable book
        at a pinned price, so tests can predict fills exactly)."""
        price = self.current_price(market, seconds)
        tick = krw_tick_size(price)
        bid = (price // tick) * tick
        bid = bid if bid > 0 else tick
        ask = round_to_tick(bid + krw_tick_size(bid), "up")
        asks: list[Decimal] = []
        bids: list[Decimal] = []
        for _ in range(ORDERBOOK_LEVELS):
            asks.append(ask)
            ask = round_to_tick(ask + krw_tick_size(ask), "up")
        for _ in range(ORDERBOOK_LEVELS):
            bids.append(bid)
            step = krw_tick_size(bid)
            lower = bid - step
            if lower > 0 and krw_tick_size(lower) < step:
                lower = bid - krw_tick_size(lower)
            bid = lower if lower > 0 else ZERO
        return [
            OrderBookLevel(a, self._level_size(market, "ask", a), b, self._level_size(market, "bid", b) if b > 0 else ZERO)
            for a, b in zip(asks, bids)
        ]

    def _level_size(self, market: str, side: str, price: Decimal) -> Decimal:
        key = ("size", market, side, price)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        rng = random.Random(f"{self.seed}:{market}:{side}:{price}")
        # Mostly a few tens of millions of KRW per level, now and then a wall (Upbit's BTC book).
        notional = 3e7 * math.exp(rng.gauss(0, 0.9)) * (4 if rng.random() < 0.08 else 1)
        size = max(Decimal("0.0001"), quantize8(Decimal(repr(notional)) / price))
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = size
        return size

    def sweep(self) -> None:
        """Fill resting limit orders the price has reached since the last look."""
        now = self.now()
        seconds = seconds_of(now)
        with self.lock:
            for market in self.markets:
                resting = self.ledger.resting(market)
                if not resting:
                    continue
                since = min(order.checked_at for order in resting)
                window = self.feeds[market].price_range(since, seconds)
                if window is None:
                    continue
                self.ledger.sweep(market, window[0], window[1], now, seconds)
            self._swept_at = seconds

    # --- dispatch ---------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Answer:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        route, exists = _route(request.method, request.path)
        if route is None:
            if exists:
                return Answer(405, _error_body(405, f"{request.method} is not allowed on {request.path}"))
            return Answer(404, _error_body(404, f"Not found: {request.path}"))
        principal = request.client
        if route.group not in QUOTATION_GROUPS:
            principal = Verifier.claimed_access_key(request.headers.get("authorization")) or request.client
        verdict = self.limiter.check(route.group, principal)
        if not verdict.allowed:
            if verdict.banned_for:
                seconds = math.ceil(verdict.banned_for)
                text = f"Too many API requests. Blocked for {seconds} seconds."
                return Answer(418, text, route.group, 0, "text/plain; charset=utf-8")
            return Answer(429, TOO_MANY, route.group, 0, "text/plain; charset=utf-8")
        fail = self.faults.take("fail", request.method, request.path)
        if fail is not None:
            body = fail.body if fail.body is not None else _error_body(fail.name, fail.message)
            kind = "application/json; charset=utf-8" if fail.body is None else "text/plain; charset=utf-8"
            return Answer(fail.status, body, route.group, verdict.remaining, kind)
        stall = self.faults.take("stall", request.method, request.path)
        if stall is not None and not stall.after:
            time.sleep(stall.seconds)
        try:
            self._read_params(request, route)
            if route.private:
                self.verifier.verify(request.headers.get("authorization"), hash_strings=request.hash_strings)
            status, payload = getattr(self, "h_" + route.handler)(request)
            answer = Answer(status, dumps(payload), route.group, verdict.remaining)
        except AuthError as error:
            answer = Answer(error.status, _error_body(error.name, error.message), route.group, verdict.remaining)
        except Rejected as error:
            answer = Answer(error.status, _error_body(error.name, error.message), route.group, verdict.remaining)
        except HttpError as error:
            answer = Answer(error.status, _error_body(error.name, error.message), route.group, verdict.remaining)
        if stall is not None and stall.after:
            answer.stall_after = stall.seconds
        if self.faults.take("drop", request.method, request.path) is not None:
            answer.drop = True
        return answer

    def _read_params(self, request: Request, route: Route) -> None:
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

    # --- quotation ----------------------------------------------------------------------------------------
    def _markets_param(self, request: Request, name: str = "markets") -> list[str]:
        raw = request.params.get(name)
        if raw is None or not str(raw).strip():
            raise _quotation_error(400, MISSING_PARAMETER)
        markets = [m.strip().upper() for m in str(raw).split(",") if m.strip()]
        unknown = [m for m in markets if m not in self.feeds]
        if unknown or not markets:
            raise _quotation_error(404, "Code not found")
        return markets

    def _market_param(self, request: Request) -> str:
        raw = request.params.get("market")
        if raw is None or not str(raw).strip():
            raise _quotation_error(400, MISSING_PARAMETER)
        market = str(raw).strip().upper()
        if market not in self.feeds:
            raise _quotation_error(404, "Code not found")
        return market

    def _count_param(self, request: Request, *, default: int, maximum: int) -> int:
        raw = request.params.get("count")
        if raw is None or raw == "":
            return default
        try:
            count = int(str(raw))
        except ValueError:
            raise _quotation_error(400, TYPE_MISMATCH) from None
        if not 1 <= count <= maximum:
            raise _quotation_error(400, f"{INVALID_PARAMETER} (count must be 1 to {maximum})")
        return count

    @staticmethod
    def _to_param(request: Request) -> float | None:
        raw = request.params.get("to")
        if raw is None or str(raw).strip() == "":
            return None
        text = str(raw).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _quotation_error(400, INVALID_PARAMETER) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # Upbit reads a zoneless `to` as UTC
        return seconds_of(moment.astimezone(UTC))

    def h_market_all(self, request: Request) -> tuple[int, Any]:
        raw = request.params.get("is_details", request.params.get("isDetails", "false"))
        details = str(raw).lower() == "true"
        rows: list[dict[str, Any]] = []
        for market in self.markets:
            coin = market.split("-", 1)[1]
            korean, english = COIN_NAMES.get(coin, (coin, coin))
            row: dict[str, Any] = {"market": market, "korean_name": korean, "english_name": english}
            if details:
                row["market_event"] = {
                    "warning": False,
                    "caution": {
                        "PRICE_FLUCTUATIONS": False,
                        "TRADING_VOLUME_SOARING": False,
                        "DEPOSIT_AMOUNT_SOARING": False,
                        "GLOBAL_PRICE_DIFFERENCES": False,
                        "CONCENTRATION_OF_SMALL_ACCOUNTS": False,
                    },
                }
            rows.append(row)
        return 200, rows

    def _completed(self, market: str, start_minute: int, end_minute: int, now: float) -> Bar | None:
        """Aggregate of the finished minutes in [start, end), cached until the price overrides change."""
        feed = self.feeds[market]
        key = ("agg", market, start_minute, end_minute, feed.version)
        if key in self._cache:
            return self._cache[key]
        bar = aggregate(b for b in (feed.live_minute(m, now) for m in range(start_minute, end_minute)) if b is not None)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = bar
        return bar

    def _ticker(self, market: str, now: datetime) -> dict[str, Any]:
        feed = self.feeds[market]
        seconds = seconds_of(now)
        minute = int(seconds // 60)
        day_start = minute // DAY_MINUTES * DAY_MINUTES
        current = feed.live_minute(minute, seconds)
        finished = self._completed(market, day_start, minute, seconds)
        today = aggregate(b for b in (finished, current) if b is not None)
        last_day = self._completed(market, minute - DAY_MINUTES + 1, minute, seconds)
        day24 = aggregate(b for b in (last_day, current) if b is not None)
        price = self.current_price(market, seconds)
        yesterday = feed.bucket(DAY_MINUTES, day_start // DAY_MINUTES - 1, seconds)
        prev_close = yesterday.close if yesterday else (today.open if today else price)
        year_key = ("52w", market, day_start, feed.version)
        if year_key not in self._cache:
            days = feed.candles(DAY_MINUTES, count=365, to=day_start * 60.0, now=seconds)
            self._cache[year_key] = (
                max(days, key=lambda d: d[1].high, default=None),
                min(days, key=lambda d: d[1].low, default=None),
            )
        highest, lowest = self._cache[year_key]
        high_52 = max(highest[1].high if highest else price, today.high if today else price)
        low_52 = min(lowest[1].low if lowest else price, today.low if today else price)
        high_date = highest[0] if highest and highest[1].high >= high_52 else day_start
        low_date = lowest[0] if lowest and lowest[1].low <= low_52 else day_start
        change = price - prev_close
        rate = (change / prev_close).quantize(Decimal("0.0000000001")) if prev_close else ZERO
        trade_ms = int(seconds * 1000)
        utc = now.astimezone(UTC)
        local = now.astimezone(KST)
        trade_volume = quantize8((current.volume if current else ZERO) / 7 + Decimal("0.00010000"))
        return {
            "market": market,
            "trade_date": utc.strftime("%Y%m%d"),
            "trade_time": utc.strftime("%H%M%S"),
            "trade_date_kst": local.strftime("%Y%m%d"),
            "trade_time_kst": local.strftime("%H%M%S"),
            "trade_timestamp": trade_ms,
            "opening_price": today.open if today else price,
            "high_price": today.high if today else price,
            "low_price": today.low if today else price,
            "trade_price": price,
            "prev_closing_price": prev_close,
            "change": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
            "change_price": abs(change),
            "change_rate": abs(rate),
            "signed_change_price": change,
            "signed_change_rate": rate,
            "trade_volume": trade_volume,
            "acc_trade_price": today.value if today else ZERO,
            "acc_trade_price_24h": day24.value if day24 else ZERO,
            "acc_trade_volume": today.volume if today else ZERO,
            "acc_trade_volume_24h": day24.volume if day24 else ZERO,
            "highest_52_week_price": high_52,
            "highest_52_week_date": moment_of(high_date * 60.0).strftime("%Y-%m-%d"),
            "lowest_52_week_price": low_52,
            "lowest_52_week_date": moment_of(low_date * 60.0).strftime("%Y-%m-%d"),
            "timestamp": trade_ms,
        }

    def h_ticker(self, request: Request) -> tuple[int, Any]:
        markets = self._markets_param(request)
        now = self.now()
        return 200, [self._ticker(market, now) for market in markets]

    def h_ticker_all(self, request: Request) -> tuple[int, Any]:
        raw = request.params.get("quote_currencies")
        if raw is None or not str(raw).strip():
            raise _quotation_error(400, MISSING_PARAMETER)
        quotes = {q.strip().upper() for q in str(raw).split(",")}
        now = self.now()
        return 200, [self._ticker(m, now) for m in self.markets if m.split("-", 1)[0] in quotes]

    def _candle_json(self, market: str, start_minute: int, bar: Bar, unit: int) -> dict[str, Any]:
        start = moment_of(start_minute * 60.0)
        return {
            "market": market,
            "candle_date_time_utc": start.strftime("%Y-%m-%dT%H:%M:%S"),
            "candle_date_time_kst": start.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S"),
            "opening_price": bar.open,
            "high_price": bar.high,
            "low_price": bar.low,
            "trade_price": bar.close,
            "timestamp": bar.last_ms,
            "candle_acc_trade_price": bar.value,
            "candle_acc_trade_volume": bar.volume,
            "unit": unit,
        }

    def h_candles_minutes(self, request: Request) -> tuple[int, Any]:
        unit_text = request.path[len(MINUTE_CANDLES) :]
        if not unit_text.isdigit() or int(unit_text) not in MINUTE_UNITS:
            raise _quotation_error(400, f"{INVALID_PARAMETER} (unit must be one of 1, 3, 5, 10, 15, 30, 60, 240)")
        unit = int(unit_text)
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=200)
        to = self._to_param(request)
        seconds = seconds_of(self.now())
        candles = self.feeds[market].candles(unit, count=count, to=to, now=seconds)
        return 200, [self._candle_json(market, start, bar, unit) for start, bar in candles]

    def h_candles_days(self, request: Request) -> tuple[int, Any]:
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=200)
        to = self._to_param(request)
        seconds = seconds_of(self.now())
        candles = self.feeds[market].candles(DAY_MINUTES, count=count + 1, to=to, now=seconds)
        rows = []
        for position, (start, bar) in enumerate(candles[:count]):
            row = self._candle_json(market, start, bar, DAY_MINUTES)
            del row["unit"]
            previous = candles[position + 1][1].close if position + 1 < len(candles) else bar.open
            change = bar.close - previous
            row["prev_closing_price"] = previous
            row["change_price"] = change
            row["change_rate"] = (change / previous).quantize(Decimal("0.0000000001")) if previous else ZERO
            if str(request.params.get("converting_price_unit", "")).upper() == "KRW":
                row["converted_trade_price"] = bar.close
            rows.append(row)
        return 200, rows

    def _day_bar(self, market: str, day: int, today: int, now: float) -> Bar | None:
        """One UTC day's candle; finished days are cached until the price overrides change."""
        feed = self.feeds[market]
        if day >= today:
            return feed.bucket(DAY_MINUTES, day, now)
        key = ("day", market, day, feed.version)
        if key in self._cache:
            return self._cache[key]
        bar = feed.bucket(DAY_MINUTES, day, now)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = bar
        return bar

    def _period_candles(self, request: Request, period: str) -> tuple[int, Any]:
        """Week (from Monday), month and year candles: the UTC days of each period added up, newest first."""
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=200)
        to = self._to_param(request)
        now = seconds_of(self.now())
        feed = self.feeds[market]
        today = int(now // 86400)
        first_day = feed.source.first_minute() // DAY_MINUTES
        last_minute = feed.source.last_minute()
        newest = today if to is None or to > now else math.ceil(to / 86400) - 1  # `to` is exclusive
        if last_minute is not None:
            newest = min(newest, last_minute // DAY_MINUTES)
        epoch = date(1970, 1, 1)
        rows: list[dict[str, Any]] = []
        day = newest
        while day >= first_day and len(rows) < count:
            moment = epoch + timedelta(days=day)
            if period == "weeks":
                start = moment - timedelta(days=moment.weekday())
                end = start + timedelta(days=7)
            elif period == "months":
                start = moment.replace(day=1)
                end = (start + timedelta(days=32)).replace(day=1)
            else:
                start = moment.replace(month=1, day=1)
                end = start.replace(year=start.year + 1)
            start_day, end_day = (start - epoch).days, (end - epoch).days
            bar = aggregate(
                b
                for b in (self._day_bar(market, d, today, now) for d in range(max(start_day, first_day), min(end_day, today + 1)))
                if b is not None
            )
            if bar is not None:
                row = self._candle_json(market, start_day * DAY_MINUTES, bar, DAY_MINUTES)
                del row["unit"]
                row["first_day_of_period"] = start.isoformat()
                rows.append(row)
            day = start_day - 1
        return 200, rows

    def h_candles_weeks(self, request: Request) -> tuple[int, Any]:
        return self._period_candles(request, "weeks")

    def h_candles_months(self, request: Request) -> tuple[int, Any]:
        return self._period_candles(request, "months")

    def h_candles_years(self, request: Request) -> tuple[int, Any]:
        return self._period_candles(request, "years")

    def h_orderbook(self, request: Request) -> tuple[int, Any]:
        markets = self._markets_param(request)
        raw_count = request.params.get("count")
        count = ORDERBOOK_LEVELS
        if raw_count not in (None, ""):
            try:
                count = int(str(raw_count))
            except ValueError:
                raise _quotation_error(400, TYPE_MISMATCH) from None
            if not 1 <= count <= ORDERBOOK_LEVELS:
                raise _quotation_error(400, f"{INVALID_PARAMETER} (count must be 1 to 30)")
        level = str(request.params.get("level", "0") or "0")
        try:
            level_value = Decimal(level)
        except InvalidOperation:
            raise _quotation_error(400, TYPE_MISMATCH) from None
        if level_value != 0:
            raise _quotation_error(400, f"{INVALID_PARAMETER} (the sandbox supports level 0 only)")
        now = self.now()
        seconds = seconds_of(now)
        result = []
        for market in markets:
            levels = self.book(market, seconds)[:count]
            result.append(
                {
                    "market": market,
                    "timestamp": int(seconds * 1000),
                    "total_ask_size": sum((lv.ask_size for lv in levels), ZERO),
                    "total_bid_size": sum((lv.bid_size for lv in levels), ZERO),
                    "orderbook_units": [
                        {"ask_price": lv.ask_price, "bid_price": lv.bid_price, "ask_size": lv.ask_size, "bid_size": lv.bid_size}
                        for lv in levels
                    ],
                    "level": 0,
                }
            )
        return 200, result

    def h_orderbook_instruments(self, request: Request) -> tuple[int, Any]:
        markets = self._markets_param(request)
        seconds = seconds_of(self.now())
        return 200, [
            {
                "market": m,
                "quote_currency": "KRW",
                "tick_size": dec(krw_tick_size(self.current_price(m, seconds))),
                "supported_levels": ["0"],
            }
            for m in markets
        ]

    def h_trades_ticks(self, request: Request) -> tuple[int, Any]:
        market = self._market_param(request)
        count = self._count_param(request, default=1, maximum=500)
        seconds = seconds_of(self.now())
        feed = self.feeds[market]
        previous_close = self.feeds[market].bucket(DAY_MINUTES, int(seconds // 60) // DAY_MINUTES - 1, seconds)
        prev = previous_close.close if previous_close else self.current_price(market, seconds)
        rows = []
        moment = math.floor(seconds * 1000)
        for index in range(count):
            ms = moment - index * 1700
            price = feed.price(ms / 1000) or prev
            rng = random.Random(f"{self.seed}:{market}:tick:{ms}")
            utc = moment_of(ms / 1000)
            rows.append(
                {
                    "market": market,
                    "trade_date_utc": utc.strftime("%Y-%m-%d"),
                    "trade_time_utc": utc.strftime("%H:%M:%S"),
                    "timestamp": ms,
                    "trade_price": price,
                    "trade_volume": quantize8(Decimal(repr(rng.expovariate(1 / 0.02)))) + Decimal("0.00000001"),
                    "prev_closing_price": prev,
                    "change_price": price - prev,
                    "ask_bid": "ASK" if rng.random() < 0.5 else "BID",
                    "sequential_id": ms * 1000 + index,
                }
            )
        return 200, rows

    # --- exchange -----------------------------------------------------------------------------------------
    def h_accounts(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            return 200, self.ledger.accounts_json()

    def _exchange_market(self, request: Request) -> str:
        raw = request.params.get("market")
        if raw is None or not str(raw).strip():
            raise Rejected(400, "validation_error", "market is missing")
        market = str(raw).strip()
        if market not in self.feeds:
            raise Rejected(400, "notfoundmarket", f"다음 마켓에 없는 종목입니다: {market} (market not found)")
        return market

    def h_orders_chance(self, request: Request) -> tuple[int, Any]:
        market = self._exchange_market(request)
        self.sweep()
        with self.lock:
            return 200, self.ledger.chance_json(market)

    def _place(self, request: Request, *, test: bool) -> tuple[int, Any]:
        self.sweep()
        now = self.now()
        seconds = seconds_of(now)
        with self.lock:
            order_request, smp_type = self.ledger.parse_request(request.params.as_dict(), self.markets)
            levels = self.book(order_request.market, seconds)
            if test:
                self.ledger.check(order_request, levels)
                side = "bid" if order_request.side == "buy" else "ask"
                preview = Order(
                    uuid=f"test-{random.getrandbits(64):016x}",
                    market=order_request.market,
                    side=side,
                    ord_type=order_request.ord_type,
                    created_at=now,
                    price=order_request.price,
                    volume=order_request.volume,
                    identifier=order_request.identifier or None,
                    time_in_force=order_request.time_in_force,
                    smp_type=smp_type,
                    remaining_volume=order_request.volume,
                )
                return 201, preview.as_json()
            order = self.ledger.place(order_request, smp_type=smp_type, levels=levels, now=now, now_seconds=seconds)
            return 201, order.as_json()

    def h_orders_create(self, request: Request) -> tuple[int, Any]:
        return self._place(request, test=False)

    def h_orders_test(self, request: Request) -> tuple[int, Any]:
        return self._place(request, test=True)

    def h_order_get(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            order = self.ledger.find(uuid=request.params.get("uuid"), identifier=request.params.get("identifier"))
            return 200, order.as_json(trades=True)

    def h_order_cancel(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            order = self.ledger.find(uuid=request.params.get("uuid"), identifier=request.params.get("identifier"))
            return 200, self.ledger.cancel(order)

    @staticmethod
    def _page(request: Request, orders: list[Order], *, max_limit: int, default_limit: int = 100) -> list[Order]:
        try:
            page = int(str(request.params.get("page", "1") or "1"))
            limit = int(str(request.params.get("limit", default_limit) or default_limit))
        except ValueError:
            raise Rejected(400, "validation_error", "page and limit must be whole numbers") from None
        if page < 1 or not 1 <= limit <= max_limit:
            raise Rejected(400, "validation_error", f"page must be at least 1 and limit 1 to {max_limit}")
        order_by = str(request.params.get("order_by", "desc") or "desc")
        if order_by not in ("asc", "desc"):
            raise Rejected(400, "validation_error", "order_by must be asc or desc")
        orders = sorted(orders, key=lambda o: o.created_at, reverse=order_by == "desc")
        return orders[(page - 1) * limit : page * limit]

    def _states(self, request: Request, *, allowed: frozenset[str], default: frozenset[str]) -> frozenset[str]:
        single = request.params.get("state")
        many = request.params.getlist("states")
        if single and many:
            raise Rejected(400, "validation_error", "state and states[] cannot be used together")
        states = frozenset([single] if single else many) or default
        unknown = states - allowed
        if unknown:
            raise Rejected(400, "validation_error", f"state {sorted(unknown)[0]!r} is not allowed here")
        return states

    def _filtered(self, request: Request, states: frozenset[str]) -> list[Order]:
        market = request.params.get("market")
        if market and market not in self.feeds:
            raise Rejected(400, "notfoundmarket", f"다음 마켓에 없는 종목입니다: {market} (market not found)")
        return [o for o in self.ledger.orders.values() if o.state in states and (not market or o.market == market)]

    def _listing(self, orders: list[Order]) -> list[dict[str, Any]]:
        return [order.as_json() for order in orders]

    def h_orders_open(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            states = self._states(request, allowed=OPEN_STATES, default=frozenset({"wait"}))
            return 200, self._listing(self._page(request, self._filtered(request, states), max_limit=100))

    def _time_param(self, request: Request, name: str) -> datetime | None:
        raw = request.params.get(name)
        if raw is None or str(raw).strip() == "":
            return None
        text = str(raw).strip()
        try:
            if text.isdigit():
                return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (ValueError, OverflowError, OSError):
            raise Rejected(400, "validation_error", f"{name} is not an ISO-8601 time or a millisecond timestamp") from None
        if moment.tzinfo is None:
            raise Rejected(400, "validation_error", f"{name} needs a time zone (e.g. +09:00) or a millisecond timestamp")
        return moment

    def h_orders_closed(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            states = self._states(request, allowed=CLOSED_STATES, default=CLOSED_STATES)
            start = self._time_param(request, "start_time")
            end = self._time_param(request, "end_time")
            week = timedelta(days=7)
            if start is None and end is None:
                end = self.now()
                start = end - week
            elif start is None and end is not None:
                start = end - week
            elif end is None and start is not None:
                end = start + week
            assert start is not None and end is not None
            if end - start > week or end < start:
                raise Rejected(400, "validation_error", "start_time and end_time must be at most 7 days apart")
            orders = [o for o in self._filtered(request, states) if start <= o.created_at <= end]
            return 200, self._listing(self._page(request, orders, max_limit=1000))

    def h_orders_uuids(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            uuids = request.params.getlist("uuids")
            identifiers = request.params.getlist("identifiers")
            if uuids and identifiers:
                raise Rejected(400, "validation_error", "uuids[] and identifiers[] cannot be used together")
            if not uuids and not identifiers:
                raise Rejected(400, "validation_error", "uuids[] or identifiers[] is missing")
            if len(uuids) + len(identifiers) > 100:
                raise Rejected(400, "validation_error", "at most 100 uuids or identifiers")
            market = request.params.get("market")
            found = [self.ledger.orders.get(u) for u in uuids] + [
                self.ledger.orders.get(self.ledger.by_identifier.get(i, "")) for i in identifiers
            ]
            orders = [o for o in found if o is not None and (not market or o.market == market)]
            reverse = str(request.params.get("order_by", "desc")) != "asc"
            orders.sort(key=lambda o: o.created_at, reverse=reverse)
            return 200, self._listing(orders)

    def h_orders_legacy(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            states = self._states(request, allowed=OPEN_STATES | CLOSED_STATES, default=frozenset({"wait"}))
            if states & OPEN_STATES and states & CLOSED_STATES:
                message = "open states (wait, watch) and closed states (done, cancel) cannot be mixed"
                raise Rejected(400, "validation_error", message)
            orders = self._filtered(request, states)
            uuids = set(request.params.getlist("uuids"))
            identifiers = set(request.params.getlist("identifiers"))
            if uuids:
                orders = [o for o in orders if o.uuid in uuids]
            if identifiers:
                orders = [o for o in orders if o.identifier in identifiers]
            return 200, self._listing(self._page(request, orders, max_limit=100))

    def h_orders_cancel_open(self, request: Request) -> tuple[int, Any]:
        self.sweep()
        with self.lock:
            side = str(request.params.get("cancel_side", "all") or "all")
            if side not in ("all", "bid", "ask"):
                raise Rejected(400, "validation_error", "cancel_side must be all, bid or ask")
            pairs = {p.strip() for p in str(request.params.get("pairs", "") or "").split(",") if p.strip()}
            excluded = {p.strip() for p in str(request.params.get("excluded_pairs", "") or "").split(",") if p.strip()}
            try:
                count = int(str(request.params.get("count", "20") or "20"))
            except ValueError:
                raise Rejected(400, "validation_error", "count must be a whole number") from None
            orders = [
                o
                for o in self.ledger.orders.values()
                if o.state == "wait"
                and (side == "all" or o.side == side)
                and (not pairs or o.market in pairs)
                and o.market not in excluded
            ]
            orders.sort(key=lambda o: o.created_at, reverse=str(request.params.get("order_by", "desc")) != "asc")
            cancelled = []
            for order in orders[: max(1, min(count, 300))]:
                self.ledger.cancel(order)
                cancelled.append({"uuid": order.uuid, "market": order.market, "identifier": order.identifier})
            return 200, {"success": {"count": len(cancelled), "orders": cancelled}, "failed": {"count": 0, "orders": []}}

    # --- control endpoint -------------------------------------------------------------------------------
    def _control(self, request: Request) -> Answer:
        if request.client not in LOOPBACK:
            return Answer(403, _error_body("forbidden", "the sandbox control endpoint answers only on loopback"))
        action = request.path[len("/_sandbox/") :]
        try:
            data: dict[str, Any] = {}
            if request.body.strip():
                data = json.loads(request.body)
                if not isinstance(data, dict):
                    raise FaultSpecError("the body must be a JSON object")
            query = dict(parse_qsl(request.raw_query))
            payload = self._control_action(request.method, action, data, query)
        except (FaultSpecError, ValueError) as error:
            return Answer(400, _error_body("invalid_control", str(error)))
        except RecursionError:
            return Answer(400, _error_body("invalid_control", "the body is nested too deeply to read"))
        except HttpError as error:
            return Answer(error.status, _error_body(error.name, error.message))
        if payload is None:
            return Answer(404, _error_body(404, f"unknown control call {request.method} /_sandbox/{action}"))
        return Answer(200, dumps(payload))

    def _control_market(self, data: dict[str, Any]) -> str:
        market = data.get("market") or self.markets[0]
        if not isinstance(market, str) or market not in self.feeds:
            raise FaultSpecError(f"market {market!r} is not served; served: {', '.join(self.markets)}")
        return str(market)

    def _control_action(self, method: str, action: str, data: dict[str, Any], query: dict[str, str]) -> Any:
        if action in ("fail", "stall", "drop") and method == "POST":
            fault = self.faults.add(fault_from_json(action, data))
            return {"armed": fault.as_dict()}
        if action == "reject_keys" and method == "POST":
            on = data.get("on", True)
            if not isinstance(on, bool):
                raise FaultSpecError(f"on {on!r} must be true or false")
            self.verifier.reject_all = on
            return {"reject_keys": self.verifier.reject_all}
        if action == "reset_faults" and method == "POST":
            self.faults.reset()
            self.verifier.reject_all = False
            return {"faults": []}
        if action == "price" and method == "GET":
            market = self._control_market(query)
            seconds = seconds_of(self.now())
            return {
                "market": market,
                "price": dec(self.current_price(market, seconds)),
                "pinned": self.feeds[market].is_pinned(seconds),
            }
        if action == "price" and method == "POST":
            market = self._control_market(data)
            self.sweep()
            seconds = seconds_of(self.now())
            raw = data.get("price")
            with self.lock:
                if raw is None:
                    self.feeds[market].release(seconds)
                else:
                    price = _control_decimal(raw, "price", maximum=MAX_CONTROL_PRICE)
                    if price <= 0:
                        raise FaultSpecError(f"price {raw!r} must be a positive number")
                    self.feeds[market].pin(seconds, price)
            return {
                "market": market,
                "price": dec(self.current_price(market, seconds)),
                "pinned": self.feeds[market].is_pinned(seconds),
            }
        if action == "clock" and method == "POST":
            raw = data.get("advance_seconds", 0)
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise FaultSpecError("advance_seconds must be a number")
            try:
                advance = float(raw)
            except ValueError:
                raise FaultSpecError("advance_seconds must be a number") from None
            if not math.isfinite(advance) or advance < 0:
                raise FaultSpecError("advance_seconds must be a number of at least 0 (the clock only moves forward)")
            if advance > MAX_CLOCK_ADVANCE:
                raise FaultSpecError(f"advance_seconds must be at most {MAX_CLOCK_ADVANCE} (ten years) per call")
            self.sweep()
            with self.lock:
                try:
                    later = self._clock() + timedelta(seconds=self.clock_offset + advance)
                except OverflowError:
                    later = None
                if later is None or later.year >= 9000:
                    raise FaultSpecError("the sandbox clock cannot go past the year 9000")
                self.clock_offset += advance
            return {"now": self.now().isoformat(), "offset_seconds": self.clock_offset}
        if action == "clock" and method == "GET":
            return {"now": self.now().isoformat(), "offset_seconds": self.clock_offset}
        if action == "balance" and method == "POST":
            currency = data.get("currency")
            if not isinstance(currency, str) or not CURRENCY_CODE.fullmatch(currency.upper()):
                raise FaultSpecError(f"currency {currency!r} must be a currency code such as KRW or BTC")
            currency = currency.upper()
            balance = _control_decimal(data.get("balance"), "balance", maximum=MAX_CONTROL_BALANCE)
            raw_average = data.get("avg_buy_price")
            average = None if raw_average is None else _control_decimal(raw_average, "avg_buy_price", maximum=MAX_CONTROL_PRICE)
            with self.lock:
                account = self.ledger.set_balance(currency, balance, average)
                return account.as_json()
        if action == "state" and method == "GET":
            self.sweep()
            with self.lock:
                state = self.ledger.state_json()
            seconds = seconds_of(self.now())
            state["prices"] = {m: dec(self.current_price(m, seconds)) for m in self.markets}
            state["faults"] = self.faults.describe()
            state["reject_keys"] = self.verifier.reject_all
            state["now"] = self.now().isoformat()
            return state
        return None


# Limits for control-endpoint input: far beyond any real market, well inside exact Decimal arithmetic.
MAX_CONTROL_PRICE = Decimal("1000000000000")
MAX_CONTROL_BALANCE = Decimal("1000000000000000")
MAX_CLOCK_ADVANCE = 10 * 366 * 86400
CURRENCY_CODE = re.compile(r"[A-Z0-9]{1,10}")


def _control_decimal(raw: Any, what: str, *, maximum: Decimal) -> Decimal:
    """A number from a control body ("0.5" or 0.5): finite, from 0 to `maximum`, at most 8 decimal places."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise FaultSpecError(f"{what} {raw!r} is not a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise FaultSpecError(f"{what} {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise FaultSpecError(f"{what} {raw!r} must be a positive number or 0")
    if value > maximum:
        raise FaultSpecError(f"{what} {raw!r} must be at most {maximum}")
    if value != value.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN):
        raise FaultSpecError(f"{what} {raw!r} has more than 8 decimal places")
    return value


# --- HTTP plumbing --------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    app: SandboxServer
    protocol_version = "HTTP/1.1"
    server_version = "autocoin-sandbox"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection is closed after a minute
    # Headers and body go out in two writes; with Nagle on, each answer waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
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
        )
        try:
            answer = self.app.handle(request)
        except Exception:  # noqa: BLE001 - a bug in the sandbox must still answer like a server would
            logger.exception("sandbox: error while answering %s %s", self.command, parts.path)
            answer = Answer(500, _error_body("server_error", "sandbox: internal error"))
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
