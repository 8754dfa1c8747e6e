"""Upbit's WebSocket messages: the subscription request, the frames it answers with, and the pacing rules.

Pure functions and small value types, no sockets (stream.py owns the connection):

- a request is one JSON array `[{ticket}, {type…}, …, {format}]`; a new request *replaces* the connection's
  subscriptions, so it always carries the complete list;
- data frames are binary UTF-8 JSON (text frames are accepted too), one object per frame in the DEFAULT format;
  numbers may come in exponent form, so they are parsed as Decimal through their text;
- `{"status":"UP"}` is the answer to a text `PING` and carries no data; `{"error":{…}}` is a refusal, after
  which Upbit closes the connection;
- limits: 5 connects per second (per IP, or per account when authenticated) and 5 messages per second and
  100 per minute per connection. `Backoff` spaces reconnects; `RateWindow` keeps any count under a window.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PUBLIC_PATH = "/websocket/v1"
PRIVATE_SUFFIX = "/private"
DEFAULT_WS_URL = "wss://api.upbit.com/websocket/v1"

CONNECTS_PER_SEC = 5
MESSAGES_PER_SEC = 5
MESSAGES_PER_MIN = 100

ZERO = Decimal(0)


class StreamProtocolError(ValueError):
    """A frame that is not JSON, or not the shape Upbit sends: dropped, and counted."""


# --- URLs -----------------------------------------------------------------------------------------------
def ws_url_from_rest(rest_base: str) -> str:
    """The WebSocket address beside a REST base: https://api.upbit.com → wss://api.upbit.com/websocket/v1;
    the sandbox's http://127.0.0.1:PORT → ws://127.0.0.1:PORT/websocket/v1."""
    parts = urlsplit(rest_base.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, PUBLIC_PATH, "", ""))


def private_url(public_url: str) -> str:
    return public_url.rstrip("/") + PRIVATE_SUFFIX


# --- the request ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Subscription:
    """One type object of a request; `codes` None leaves the field out (myAsset refuses it)."""

    type: str
    codes: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type}
        if self.codes is not None:
            body["codes"] = [code.upper() for code in self.codes]  # lower-case codes get no data and no error
        return body


def public_subscriptions(market: str) -> tuple[Subscription, ...]:
    codes = (market,)
    return (Subscription("ticker", codes), Subscription("trade", codes), Subscription("orderbook", codes))


def private_subscriptions(market: str) -> tuple[Subscription, ...]:
    return (Subscription("myOrder", (market,)), Subscription("myAsset"))


def subscription_request(subscriptions: Iterable[Subscription], *, ticket: str | None = None) -> str:
    """The complete request: every subscription this connection wants, since a request replaces the last one."""
    items: list[dict[str, Any]] = [{"ticket": ticket or str(uuid.uuid4())}]
    items.extend(subscription.as_json() for subscription in subscriptions)
    items.append({"format": "DEFAULT"})
    return json.dumps(items, separators=(",", ":"))


# --- the frames -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TickerMessage:
    market: str
    trade_price: Decimal
    trade_at: datetime
    """The trade's time (trade_timestamp): the moment a decision on this price is taken at."""
    sent_at: datetime
    stream_type: str


@dataclass(frozen=True, slots=True)
class TradeMessage:
    market: str
    price: Decimal
    volume: Decimal
    side: str
    sequential_id: int
    trade_at: datetime


@dataclass(frozen=True, slots=True)
class OrderbookTop:
    """The best level of a full book frame (every orderbook frame is a full book, never a delta)."""

    market: str
    ask_price: Decimal
    ask_size: Decimal
    bid_price: Decimal
    bid_size: Decimal
    total_ask_size: Decimal
    total_bid_size: Decimal
    sent_at: datetime

    @property
    def spread(self) -> Decimal:
        return self.ask_price - self.bid_price if self.ask_price > 0 and self.bid_price > 0 else ZERO


@dataclass(frozen=True, slots=True)
class MyOrderMessage:
    uuid: str
    market: str
    side: str
    state: str
    trade_uuid: str | None
    identifier: str | None
    sent_at: datetime

    @property
    def is_fill(self) -> bool:
        """A trade on this order (state `trade`, or the last one folded into `done`/`cancel`)."""
        return self.trade_uuid is not None or self.state in ("trade", "done")


@dataclass(frozen=True, slots=True)
class MyAssetMessage:
    balances: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    """currency → (balance available, locked)."""
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusMessage:
    status: str


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    name: str
    message: str


StreamMessage = TickerMessage | TradeMessage | OrderbookTop | MyOrderMessage | MyAssetMessage | StatusMessage | ErrorMessage


def _decimal(raw: Any, name: str) -> Decimal:
    if raw is None:
        return ZERO
    try:
        value = Decimal(str(raw))  # str() keeps what the server wrote; 1.16539E8 parses as Decimal too
    except InvalidOperation as error:
        raise StreamProtocolError(f"{name} is not a number: {raw!r}") from error
    if not value.is_finite():
        raise StreamProtocolError(f"{name} is not finite: {raw!r}")
    return value


def _moment(raw: Any, name: str) -> datetime:
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise StreamProtocolError(f"{name} is not an epoch-milliseconds number: {raw!r}")
    return datetime.fromtimestamp(raw / 1000, tz=UTC)


def _pick(body: Mapping[str, Any], long: str, short: str) -> Any:
    """DEFAULT names a field `long`, SIMPLE `short`; either is read."""
    return body[long] if long in body else body.get(short)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_frame(data: bytes | str) -> StreamMessage | None:
    """One frame as a message; None for a type this client does not use. Raises StreamProtocolError."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise StreamProtocolError(f"not JSON: {data[:80]!r}") from error
    if not isinstance(body, dict):
        raise StreamProtocolError(f"not a JSON object: {str(body)[:80]}")
    return parse_message(body)


def parse_message(body: Mapping[str, Any]) -> StreamMessage | None:
    if "error" in body:
        error = body["error"] if isinstance(body["error"], dict) else {}
        return ErrorMessage(name=str(error.get("name", "")), message=str(error.get("message", "")))
    if "status" in body:
        return StatusMessage(status=str(body["status"]))
    kind = _pick(body, "type", "ty")
    sent_raw = _pick(body, "timestamp", "tms")
    try:
        if kind == "ticker":
            sent_at = _moment(sent_raw, "timestamp")
            trade_raw = _pick(body, "trade_timestamp", "ttms")
            return TickerMessage(
                market=str(_pick(body, "code", "cd")),
                trade_price=_decimal(_pick(body, "trade_price", "tp"), "trade_price"),
                trade_at=_moment(trade_raw, "trade_timestamp") if trade_raw is not None else sent_at,
                sent_at=sent_at,
                stream_type=str(_pick(body, "stream_type", "st") or ""),
            )
        if kind == "trade":
            return TradeMessage(
                market=str(_pick(body, "code", "cd")),
                price=_decimal(_pick(body, "trade_price", "tp"), "trade_price"),
                volume=_decimal(_pick(body, "trade_volume", "tv"), "trade_volume"),
                side=str(_pick(body, "ask_bid", "ab") or ""),
                sequential_id=int(_pick(body, "sequential_id", "sid") or 0),
                trade_at=_moment(_pick(body, "trade_timestamp", "ttms"), "trade_timestamp"),
            )
        if kind == "orderbook":
            return _orderbook_top(body, _moment(sent_raw, "timestamp"))
        if kind == "myOrder":
            return MyOrderMessage(
                uuid=str(_pick(body, "uuid", "uid")),
                market=str(_pick(body, "code", "cd") or ""),
                side=str(_pick(body, "ask_bid", "ab") or ""),
                state=str(_pick(body, "state", "s") or ""),
                trade_uuid=_text(_pick(body, "trade_uuid", "tuid")),
                identifier=_text(_pick(body, "identifier", "id")),
                sent_at=_moment(sent_raw, "timestamp"),
            )
        if kind == "myAsset":
            assets = _pick(body, "assets", "ast") or []
            balances = {
                str(_pick(item, "currency", "cu")): (
                    _decimal(_pick(item, "balance", "b"), "balance"),
                    _decimal(_pick(item, "locked", "l"), "locked"),
                )
                for item in assets
                if isinstance(item, dict)
            }
            return MyAssetMessage(balances=balances, sent_at=_moment(sent_raw, "timestamp") if sent_raw is not None else None)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, StreamProtocolError):
            raise
        raise StreamProtocolError(f"{kind} frame: {error}") from error
    return None


def _orderbook_top(body: Mapping[str, Any], sent_at: datetime) -> OrderbookTop:
    units = _pick(body, "orderbook_units", "obu") or []
    best = units[0] if units and isinstance(units[0], dict) else {}
    return OrderbookTop(
        market=str(_pick(body, "code", "cd")),
        ask_price=_decimal(_pick(best, "ask_price", "ap"), "ask_price"),
        ask_size=_decimal(_pick(best, "ask_size", "as"), "ask_size"),
        bid_price=_decimal(_pick(best, "bid_price", "bp"), "bid_price"),
        bid_size=_decimal(_pick(best, "bid_size", "bs"), "bid_size"),
        total_ask_size=_decimal(_pick(body, "total_ask_size", "tas"), "total_ask_size"),
        total_bid_size=_decimal(_pick(body, "total_bid_size", "tbs"), "total_bid_size"),
        sent_at=sent_at,
    )


# --- pacing ---------------------------------------------------------------------------------------------
_BLOCKED_FOR = re.compile(r"Blocked for (\d+) seconds")


def ban_seconds(status: int, body: bytes | str | None) -> float:
    """How long a refused handshake says not to come back: Upbit's 418 ("Blocked for N seconds.") grows with
    every attempt made during it, so the next dial waits at least that long. 0 when it says nothing."""
    if status != 418 or not body:
        return 0.0
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    found = _BLOCKED_FOR.search(text)
    return float(found.group(1)) if found else 60.0


class Backoff:
    """Jittered exponential backoff ("full jitter"): attempt n waits uniformly in [base·2ⁿ/2, base·2ⁿ], capped.

    Half the window is kept as a floor so a run of unlucky draws cannot turn into a reconnect storm."""

    def __init__(self, *, base_sec: float = 1.0, cap_sec: float = 60.0, rand: Callable[[], float] = random.random) -> None:
        self.base_sec = base_sec
        self.cap_sec = cap_sec
        self.rand = rand
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_sec, self.base_sec * float(2**self.attempts))
        self.attempts += 1
        return ceiling / 2 + (ceiling / 2) * self.rand()

    def reset(self) -> None:
        self.attempts = 0


class RateWindow:
    """At most `limit` events in any `window_sec` (a sliding window); `reserve()` answers how long to wait.

    Thread-safe: the public and private clients of one process share the connect window."""

    def __init__(self, limit: int, window_sec: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_sec = window_sec
        self.clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a slot; the seconds to wait before using it (0: now)."""
        with self._lock:
            now = self.clock()
            while self._times and self._times[0] <= now - self.window_sec:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return 0.0
            at = self._times[-self.limit] + self.window_sec
            self._times.append(at)
            return max(0.0, at - now)


CONNECT_WINDOW = RateWindow(CONNECTS_PER_SEC, 1.1)
"""Upbit counts connects per IP (public) or per account (private): one window for the whole process, a little
longer than Upbit's second so that jitter between the two clocks never lands six connects in one of its seconds."""


class MessageBudget:
    """A connection's sends: 5 per second and 100 per minute. `wait()` is how long the next send must wait."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.second = RateWindow(MESSAGES_PER_SEC, 1.0, clock=clock)
        self.minute = RateWindow(MESSAGES_PER_MIN, 60.0, clock=clock)

    def wait(self) -> float:
        return max(self.second.reserve(), self.minute.reserve())
