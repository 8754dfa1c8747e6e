"""What the sandbox exchange knows: its markets and their prices, its clock, the account ledger, the
keys it accepts, its rate limiter and armed faults; plus the order book it derives from the price and
the sweep that fills resting limit orders. The endpoint classes build on this state."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange.rules import krw_tick_size, round_to_tick
from exchange.sandbox.auth import Verifier
from exchange.sandbox.faults import Fault, Faults
from exchange.sandbox.feed import MarketFeed, minute_of, seconds_of
from exchange.sandbox.http import HttpError
from exchange.sandbox.ledger import Ledger
from exchange.sandbox.prices import CsvSource, SyntheticSource, quantize8
from exchange.sandbox.ratelimit import RateLimiter
from exchange.types import ZERO, OrderBookLevel

# The documented sandbox key pair, used when no Upbit keys are configured. It opens nothing real.
SANDBOX_ACCESS_KEY = "sandbox-access-key-0000000000000000000000"
SANDBOX_SECRET_KEY = "sandbox-secret-key-do-not-use-for-real-money-000000000000000000000"  # noqa: S105 - public by design

ORDERBOOK_LEVELS = 30

# Derived answers (aggregated bars, book sizes) are cached; past this many entries the cache starts over.
CACHE_LIMIT = 50_000


def _default_keys() -> tuple[str, str]:
    try:
        from django.conf import settings

        if settings.configured and settings.UPBIT_ACCESS_KEY and settings.UPBIT_SECRET_KEY:
            return settings.UPBIT_ACCESS_KEY, settings.UPBIT_SECRET_KEY
    except Exception:  # noqa: BLE001 - outside a Django project the documented pair is used
        return SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY
    return SANDBOX_ACCESS_KEY, SANDBOX_SECRET_KEY


class SandboxState:
    """The sandbox's markets, clock and account.

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
        control_token: str | None = None,
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
        # When set, the control endpoint also wants it in the X-Sandbox-Token header.
        self.control_token = control_token or None
        self.ledger = Ledger(krw=krw)
        self.verifier = Verifier(self.access_key, self.secret_key)
        self.verifier.reject_all = reject_keys
        self.limiter = RateLimiter(enabled=rate_limit, ban_after=ban_after, ban_seconds=ban_seconds)
        self.faults = Faults()
        for fault in faults or ():
            self.faults.add(fault)
        # Every Upbit call that arrived, counted before the quota and the faults ("POST /v1/orders": 3), so a
        # test can say how many requests a client sent, whatever they were answered.
        self.received: Counter[str] = Counter()
        self._swept_at = seconds_of(now)
        self._cache: dict[Any, Any] = {}
        # A pair's tick as set through the control endpoint (Upbit changes its table now and then); otherwise the table's.
        self.tick_overrides: dict[str, Decimal] = {}
        # When the sandbox's one API key expires (`GET /v1/api_keys`); Upbit keys last a year.
        self.key_expire_at = now + timedelta(days=365)

    # --- time and market state -------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock() + timedelta(seconds=self.clock_offset)

    def tick_size(self, market: str, seconds: float) -> Decimal:
        """The pair's tick: the one set through the control endpoint, or the KRW table's at the current price."""
        return self.tick_overrides.get(market) or krw_tick_size(self.current_price(market, seconds))

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
            for a, b in zip(asks, bids, strict=True)
        ]

    def _level_size(self, market: str, side: str, price: Decimal) -> Decimal:
        key = ("size", market, side, price)
        cached: Decimal | None = self._cache.get(key)
        if cached is not None:
            return cached
        rng = random.Random(f"{self.seed}:{market}:{side}:{price}")  # noqa: S311 - a seeded, repeatable book
        # Mostly a few tens of millions of KRW per level, now and then a wall (Upbit's BTC book).
        notional = 3e7 * math.exp(rng.gauss(0, 0.9)) * (4 if rng.random() < 0.08 else 1)
        size = max(Decimal("0.0001"), quantize8(Decimal(repr(notional)) / price))
        self._remember(key, size)
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

    def _remember(self, key: Any, value: Any) -> None:
        if len(self._cache) > CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = value
