"""The engine's market data stream: Upbit's WebSocket feeding the trading thread, with REST as the fallback.

The stream only supplies prices, moments and wake-ups; every decision is still taken by the cycle's one code
path (cycle.py), on the stream's price and the ticker's trade time:

- **price source**: while the public stream is connected and has delivered a frame within STREAM_STALE_SEC,
  a cycle takes its price and moment from the last ticker; otherwise it asks REST as before. Each switch is
  recorded once (events.market_data_source_changed) by the control loop (`source_changed`).
- **protective exits**: after each cycle the engine leaves a `Watch` (the protective rules and the position it
  last loaded); every ticker is checked against it in memory, and a crossed level wakes the trading thread so
  the cycle (not the stream) sells within a second instead of at the next LOOP_INTERVAL_SEC.
- **order updates**: a myOrder frame that reports a trade wakes the trading thread with the order's uuid; the
  cycle looks that order up over REST at once (REST stays the source of truth; fills are de-duplicated by
  trade id as for any reconcile).
- **the dashboard**: the last price and the top of the book go into the heartbeat's metrics (`snapshot()`).

The stream thread calls `on_public`/`on_private`; the trading thread calls `ticker`, `watch`, `take_*`; the
control thread calls `source_changed` and `snapshot`. One lock guards the shared fields.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

from django.conf import settings

from exchange.types import Ticker
from exchange.upbit.stream import StreamClient
from exchange.upbit.stream_messages import (
    MyOrderMessage,
    OrderbookTop,
    StreamMessage,
    TickerMessage,
    TradeMessage,
    private_subscriptions,
    private_url,
    public_subscriptions,
    ws_url_from_rest,
)
from trading.strategies.protective import ProtectiveRules

Source = Literal["stream", "rest"]


@dataclass(frozen=True, slots=True)
class SourceSwitch:
    source: Source
    code: str
    params: dict[str, str]


class FeedOwner(Protocol):
    market: str
    exchange: Any


WAKE_MIN_GAP_SEC = 1.0
"""A level that stays crossed (a sell the gate refused, an order still open) wakes the trading thread at most
this often, not on every ticker."""
RATE_WINDOW_SEC = 10.0
RECONNECT_AFTER_SILENCE_SEC = 30.0
"""Stale is not dead: a public connection is dialled again only after this much silence (or 6 × STREAM_STALE_SEC),
long enough to live past the client's healthy mark, so a quiet market never grows the backoff."""


@dataclass(frozen=True, slots=True)
class Watch:
    """What the protective check needs, as the last cycle loaded it."""

    rules: ProtectiveRules
    avg_buy_price: float
    peak: float
    atr: float | None

    def crossed(self, price: float, high: float) -> bool:
        peak = max(self.peak, high, price)
        return self.rules.check(avg_buy_price=self.avg_buy_price, peak=peak, price=price, atr=self.atr) is not None


class MarketFeed:
    """The public stream (ticker, trade, orderbook for one market) and, with keys, the private one (myOrder, myAsset)."""

    def __init__(
        self,
        *,
        market: str,
        url: str,
        stale_sec: float,
        wake: Callable[[], None],
        access_key: str = "",
        secret_key: str = "",
        clock: Callable[[], float] = time.monotonic,
        client_factory: Callable[..., StreamClient] = StreamClient,
    ) -> None:
        self.market = market
        self.stale_sec = stale_sec
        self.wake = wake
        self.clock = clock
        self._lock = threading.Lock()
        self._ticker: TickerMessage | None = None
        self._last_frame_at: float | None = None
        self._high: Decimal | None = None
        self._top: OrderbookTop | None = None
        self._watch: Watch | None = None
        self._woken_at: float | None = None
        self._orders: set[str] = set()
        self._frames: deque[float] = deque()
        self._source: Source = "rest"
        self.wakes = 0
        self.public = client_factory(
            url,
            public_subscriptions(market),
            self.on_public,
            name="public",
            silence_sec=max(RECONNECT_AFTER_SILENCE_SEC, 6 * stale_sec),
            clock=clock,
        )
        self.private: StreamClient | None = None
        if access_key and secret_key:
            self.private = client_factory(
                private_url(url),
                private_subscriptions(market),
                self.on_private,
                name="private",
                access_key=access_key,
                secret_key=secret_key,
                clock=clock,
            )

    def start(self) -> None:
        self.public.start()
        if self.private is not None:
            self.private.start()

    def stop(self) -> None:
        self.public.stop()
        if self.private is not None:
            self.private.stop()

    # --- the stream thread ----------------------------------------------------------------------------
    def on_public(self, message: StreamMessage) -> None:
        now = self.clock()
        wake = False
        with self._lock:
            self._last_frame_at = now
            self._frames.append(now)
            while self._frames and self._frames[0] < now - RATE_WINDOW_SEC:
                self._frames.popleft()
            if isinstance(message, TickerMessage) and message.market == self.market:
                self._ticker = message
                price = message.trade_price
                self._high = price if self._high is None else max(self._high, price)
                watch = self._watch
                if watch is not None and watch.crossed(float(price), float(self._high)):
                    wake = self._woken_at is None or now - self._woken_at >= WAKE_MIN_GAP_SEC
                    if wake:
                        self._woken_at = now
                        self.wakes += 1
            elif isinstance(message, OrderbookTop) and message.market == self.market:
                self._top = message
            elif isinstance(message, TradeMessage):
                pass  # counted as a frame: it keeps the stream fresh between tickers
        if wake:
            self.wake()

    def on_private(self, message: StreamMessage) -> None:
        if isinstance(message, MyOrderMessage) and message.is_fill and message.uuid:
            with self._lock:
                self._orders.add(message.uuid)
            self.wake()

    # --- the trading thread ---------------------------------------------------------------------------
    def healthy(self) -> bool:
        """Connected, and a frame within stale_sec (by this feed's clock)."""
        with self._lock:
            last = self._last_frame_at
        return self.public.status().connected and last is not None and self.clock() - last <= self.stale_sec

    def ticker(self) -> Ticker | None:
        """The stream's last ticker for the cycle, or None when the stream is not healthy (REST then)."""
        if not self.healthy():
            return None
        with self._lock:
            message = self._ticker
        if message is None:
            return None
        return Ticker(market=message.market, trade_price=message.trade_price, timestamp=message.trade_at)

    def take_high(self) -> Decimal | None:
        """The highest streamed price since the last call while a position was watched: the trailing peak then
        includes every live price seen, not only those a cycle happened to sample (None: no position held)."""
        with self._lock:
            high, self._high = self._high, None
            return high if self._watch is not None else None

    def take_orders(self) -> set[str]:
        """Uuids of orders myOrder reported a trade on since the last call."""
        with self._lock:
            orders, self._orders = self._orders, set()
        return orders

    def watch(self, watch: Watch | None) -> None:
        with self._lock:
            if watch != self._watch:
                self._woken_at = None
            self._watch = watch

    # --- the control thread ---------------------------------------------------------------------------
    def source_changed(self) -> SourceSwitch | None:
        """The new price source and why (a sentence code of trading/event_texts.py), once per switch."""
        source: Source = "stream" if self.ticker() is not None else "rest"
        if source == self._source:
            return None
        self._source = source
        if source == "stream":
            return SourceSwitch(source, "stream_fresh", {})
        status = self.public.status()
        age = self.last_frame_age()
        if not status.connected:
            return SourceSwitch(source, "stream_disconnected", {"error": status.last_error or "connecting"})
        if age is None or self._ticker is None:
            return SourceSwitch(source, "stream_no_ticker", {})
        return SourceSwitch(source, "stream_silent", {"seconds": f"{age:.1f}", "limit": f"{self.stale_sec:g}"})

    def last_frame_age(self) -> float | None:
        with self._lock:
            last = self._last_frame_at
        return None if last is None else max(0.0, self.clock() - last)

    def state(self) -> str:
        if self.healthy():
            return "connected"
        return "stale" if self.public.status().connected else "disconnected"

    def snapshot(self) -> dict[str, Any]:
        """For the heartbeat's metrics (/metrics and the dashboard's live price): decimals as strings."""
        public = self.public.status()
        private = self.private.status() if self.private is not None else None
        age = self.last_frame_age()
        with self._lock:
            ticker, top = self._ticker, self._top
            rate = len(self._frames) / RATE_WINDOW_SEC
        snapshot: dict[str, Any] = {
            "state": self.state(),
            "source": self._source,
            "reconnects": public.reconnects + (private.reconnects if private else 0),
            "messages": public.messages + (private.messages if private else 0),
            "messages_per_sec": round(rate, 2),
            "last_message_age_seconds": None if age is None else round(age, 3),
            "private": None if private is None else ("connected" if private.connected else "disconnected"),
            "wakes": self.wakes,
            "price": None,
            "book": None,
        }
        if ticker is not None:
            snapshot["price"] = {"value": format(ticker.trade_price, "f"), "at": ticker.trade_at.isoformat()}
        if top is not None:
            snapshot["book"] = {
                "ask_price": format(top.ask_price, "f"),
                "ask_size": format(top.ask_size, "f"),
                "bid_price": format(top.bid_price, "f"),
                "bid_size": format(top.bid_size, "f"),
                "spread": format(top.spread, "f"),
                "at": top.sent_at.isoformat(),
            }
        return snapshot


def off_snapshot() -> dict[str, Any]:
    return {"state": "off", "source": "rest"}


def stream_url() -> str:
    return settings.UPBIT_WS_URL or ws_url_from_rest(settings.UPBIT_API_BASE)


def feed_from_settings(engine: FeedOwner, *, wake: Callable[[], None]) -> MarketFeed | None:
    """The engine's feed under MARKET_STREAM (None: off). The private stream only when trading live with keys:
    paper orders never reach Upbit, so there is nothing of ours to hear about."""
    if settings.MARKET_STREAM != "on":
        return None
    live = not getattr(engine.exchange, "is_paper", False)
    keys = (settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY) if live else ("", "")
    return MarketFeed(
        market=engine.market,
        url=stream_url(),
        stale_sec=float(settings.STREAM_STALE_SEC),
        wake=wake,
        access_key=keys[0],
        secret_key=keys[1],
    )
