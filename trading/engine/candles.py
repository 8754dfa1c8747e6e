"""Closed candles for the live engine: paged backwards past Upbit's 200-candle limit, cached across cycles.

A strategy may need more closed candles than one request returns (volatility breakout on 1-minute
candles needs two days, 2,880; MACD with long periods 5 × (slow + signal)). The first cycle pages
backwards with `to` (the oldest candle's start; Upbit's `to` is exclusive) until enough are read or
the history ends. Closed candles never change, so they are kept per candle unit and later cycles
fetch only what is new: the newest page, sized to the time since the last cached candle (so the
last cached candle is read once more, and the candle still forming is dropped).

A strategy that needs more than `MAX_CANDLES` cannot finish its warm-up: it gets one page (and
holds), and the engine says so once (`CandleWindow.capped`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from exchange.base import Exchange
from exchange.types import Candle
from trading.strategies.market_model import CANDLE_CLOSE_MARGIN_SEC

logger = logging.getLogger("autocoin.engine.candles")

PAGE = 200
"""Upbit's largest candle request."""
MAX_CANDLES = 5000
"""The most closed candles the engine reads and keeps per unit (25 requests on a cold start)."""
DAY_UNIT = 1440
CLOSE_MARGIN = timedelta(seconds=CANDLE_CLOSE_MARGIN_SEC)


@dataclass
class CandleWindow:
    candles: list[Candle]
    """Closed candles, oldest first, at most `need` of them."""
    need: int
    requests: int
    """HTTP requests this read took (1 in the steady state)."""
    capped: bool = False
    """The strategy needs more than MAX_CANDLES: it gets one page and stays in warm-up."""


def drop_forming(candles: list[Candle], now: datetime) -> list[Candle]:
    """Drop a candle that is still forming: the engine decides on closed candles only."""
    if candles:
        last = candles[-1]
        if last.start + timedelta(minutes=last.unit) > now:
            return candles[:-1]
    return candles


class CandleCache:
    """Closed candles of one market, per unit, oldest first."""

    def __init__(self, exchange: Exchange, market: str, clock: Callable[[], datetime]) -> None:
        self.exchange = exchange
        self.market = market
        self.clock = clock
        self._closed: dict[int, list[Candle]] = {}
        self._exhausted: set[int] = set()
        """Units whose history was read back to its first candle: never paged back again."""
        self._newest: dict[int, Candle] = {}
        """The newest candle the exchange returned per unit (usually the one still forming), for the chart."""

    def cached(self, unit: int) -> list[Candle]:
        return list(self._closed.get(unit, []))

    def newest_read(self, unit: int) -> Candle | None:
        """The newest candle of the last read (the forming one, as the exchange knew it then), or None."""
        return self._newest.get(unit)

    def fetch(self, unit: int, count: int, to: datetime | None = None) -> list[Candle]:
        if unit >= DAY_UNIT:
            return list(self.exchange.get_day_candles(self.market, count=count, to=to))
        return list(self.exchange.get_minute_candles(self.market, unit=unit, count=count, to=to))

    def closed(self, unit: int, need: int, now: datetime | None = None) -> CandleWindow:
        """The newest `need` closed candles (fewer when the history is shorter), oldest first.

        `now` is the exchange's time (the ticker's); a candle counts as closed `CANDLE_CLOSE_MARGIN_SEC`
        after its end by that clock. Until the next candle can have closed, the cached ones are returned
        without a request."""
        capped = need > MAX_CANDLES
        # A strategy that needs more than MAX_CANDLES cannot finish its warm-up: one page is enough to say so.
        need = PAGE - 1 if capped else max(1, need)
        now = (now or self.clock()) - CLOSE_MARGIN
        step = timedelta(minutes=unit)
        cached = self._closed.get(unit, [])
        if cached and now < cached[-1].start + 2 * step and (len(cached) >= need or unit in self._exhausted):
            return CandleWindow(candles=cached[-need:], need=need, requests=0, capped=capped)
        # Warm: everything since the last cached candle (read once more: it may have been forming) and the forming one.
        count = max(2, min(PAGE, int((now - cached[-1].start) / step) + 2)) if cached else min(PAGE, need + 1)
        newest = self.fetch(unit, count)
        requests = 1
        if newest:
            self._newest[unit] = max(newest, key=lambda candle: candle.start)
        collected = {candle.start: candle for candle in newest}
        oldest = newest[0].start if newest else None
        ended = len(newest) < count
        # A gap between the newest page and the cache (the engine was idle): page back until they meet.
        while cached and oldest is not None and oldest > cached[-1].start and not ended and len(collected) < need + 1:
            asked = min(PAGE, need + 1 - len(collected))
            older = [candle for candle in self.fetch(unit, asked, to=oldest) if candle.start < oldest]
            requests += 1
            ended = len(older) < asked
            collected.update((candle.start, candle) for candle in older)
            oldest = older[0].start if older else oldest
        if cached and oldest is not None and oldest > cached[-1].start:
            cached = []  # the cache is older than a gap that was not read: start over from what was read
            self._exhausted.discard(unit)
        by_start = {candle.start: candle for candle in cached}
        by_start.update(collected)  # the fresh answer wins over the cache for the same candle
        # Not enough yet (a cold start, or a strategy that now needs more): page back from the oldest known candle.
        exhausted = unit in self._exhausted or (not cached and ended)
        while by_start and not exhausted and len(by_start) < need + 1:
            first = min(by_start)
            asked = min(PAGE, need + 1 - len(by_start))
            older = [candle for candle in self.fetch(unit, asked, to=first) if candle.start < first]
            requests += 1
            exhausted = len(older) < asked
            by_start.update((candle.start, candle) for candle in older)
        if exhausted:
            self._exhausted.add(unit)
        closed = [by_start[start] for start in sorted(by_start) if start + step <= now]
        kept = closed[-need:]
        if len(closed) > need:
            self._exhausted.discard(unit)  # older candles exist beyond what is kept
        self._closed[unit] = kept
        if requests > 1:
            logger.info("read %s closed %s-minute candles of %s in %s requests", len(kept), unit, self.market, requests)
        return CandleWindow(candles=kept, need=need, requests=requests, capped=capped)
