"""One market's prices over sandbox time: a price source (`exchange.sandbox.prices`) on the sandbox
clock, with the control endpoint's overrides. A pinned price holds still until released, and the walk
then continues from it."""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from exchange.sandbox.prices import DAY_MINUTES, EPOCH, Bar, Source, aggregate, quantize8, snap


def minute_of(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() // 60)


def seconds_of(moment: datetime) -> float:
    return (moment - EPOCH).total_seconds()


def moment_of(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Override:
    """From `at` (epoch seconds) on: the price is pinned at `pinned`, or the walk is scaled by `factor`."""

    at: float
    pinned: Decimal | None
    factor: Decimal


class MarketFeed:
    """One market's prices over sandbox time, with the control endpoint's overrides applied."""

    def __init__(self, market: str, source: Source) -> None:
        self.market = market
        self.source = source
        self.overrides: list[Override] = []
        self.version = 0
        """Bumped by every pin or release, so cached aggregates know they are stale."""
        self._lock = threading.RLock()

    # --- raw model ------------------------------------------------------------------------------------
    def model_minute(self, minute: int) -> Bar | None:
        unit = self.source.unit
        bars = self.source.minutes(minute // unit)
        return bars[minute % unit] if unit > 1 else bars[0]

    def model_price(self, seconds: float) -> Decimal | None:
        minute = int(seconds // 60)
        bar = self.model_minute(minute)
        if bar is None:
            return self.source.last_close_before(minute)
        fraction = Decimal(repr((seconds - minute * 60) / 60))
        return snap(bar.open + (bar.close - bar.open) * fraction)

    # --- overrides -------------------------------------------------------------------------------------
    def _override_at(self, seconds: float) -> Override | None:
        chosen = None
        for override in self.overrides:
            if override.at <= seconds:
                chosen = override
            else:
                break
        return chosen

    def price(self, seconds: float) -> Decimal | None:
        with self._lock:
            override = self._override_at(seconds)
        if override is not None and override.pinned is not None:
            return override.pinned
        model = self.model_price(seconds)
        if model is None:
            return None
        factor = override.factor if override else Decimal(1)
        return snap(model * factor) if factor != 1 else model

    def pin(self, seconds: float, price: Decimal) -> None:
        with self._lock:
            self.overrides = [o for o in self.overrides if o.at < seconds]
            self.overrides.append(Override(seconds, snap(price), Decimal(1)))
            self.version += 1

    def release(self, seconds: float) -> None:
        """Let the walk go on from the pinned price (scaled so it starts exactly there)."""
        with self._lock:
            current = self._override_at(seconds)
            if current is None or current.pinned is None:
                return
            model = self.model_price(seconds)
            factor = (current.pinned / model) if model else Decimal(1)
            self.overrides = [o for o in self.overrides if o.at < seconds]
            self.overrides.append(Override(seconds, None, factor))
            self.version += 1

    def is_pinned(self, seconds: float) -> bool:
        with self._lock:
            override = self._override_at(seconds)
        return bool(override and override.pinned is not None)

    def first_override_at(self) -> float | None:
        with self._lock:
            return self.overrides[0].at if self.overrides else None

    # --- candles ---------------------------------------------------------------------------------------
    def live_minute(self, minute: int, now: float) -> Bar | None:
        """The 1-minute candle starting at `minute`, as it stands at `now` (partial if still open)."""
        start = minute * 60.0
        if start > now:
            return None
        model = self.model_minute(minute)
        if model is None:
            return None
        end = min(start + 60.0, now)
        complete = end >= start + 60.0
        with self._lock:
            overrides = list(self.overrides)
        # An override made at this very moment already applies to the minute in progress.
        relevant = [o for o in overrides if start < o.at < end or (not complete and o.at == end)]
        before: Override | None = None
        for earlier in overrides:
            if earlier.at <= start:
                before = earlier
        if not relevant and (before is None or before.pinned is None):
            factor = before.factor if before else Decimal(1)
            if complete:
                return model.scaled(factor)
            fraction = Decimal(repr((end - start) / 60))
            current = snap(model.open + (model.close - model.open) * fraction)
            bar = Bar(
                model.open,
                max(model.open, current),
                min(model.open, current),
                current,
                quantize8(model.volume * fraction),
                quantize8(model.value * fraction),
                int(now * 1000),
            )
            return bar.scaled(factor)
        # Overrides change the price inside this minute: sample it at every change.
        points = [start, *[o.at for o in relevant], end]
        prices: list[Decimal] = []
        for moment in points:
            price = self.price(end - 1e-6 if complete and moment == end else moment)
            if price is not None:
                prices.append(price)
        for left, right in itertools.pairwise(points):
            override = self._override_at(left) if left > start else before
            if override is None or override.pinned is None:
                factor = override.factor if override else Decimal(1)
                if left == start and right == start + 60.0:
                    prices.extend((snap(model.high * factor), snap(model.low * factor)))
        if not prices:
            return None
        fraction = Decimal(repr((end - start) / 60))
        return Bar(
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            quantize8(model.volume * fraction),
            quantize8(model.value * fraction),
            model.last_ms if complete else int(now * 1000),
        )

    def bucket(self, unit: int, index: int, now: float) -> Bar | None:
        """The candle of `unit` minutes starting at minute index * unit, as it stands at `now`."""
        start_minute = index * unit
        end_seconds = (start_minute + unit) * 60.0
        first_override = self.first_override_at()
        untouched = end_seconds <= now and (first_override is None or end_seconds <= first_override)
        base_unit = self.source.unit
        if untouched and unit % base_unit == 0:
            first = start_minute // base_unit
            return aggregate(b for b in (self.source.base(first + i) for i in range(unit // base_unit)) if b is not None)
        if untouched:
            return aggregate(b for b in (self.model_minute(m) for m in range(start_minute, start_minute + unit)) if b is not None)
        last_minute = min(start_minute + unit, int(now // 60) + 1)
        return aggregate(b for b in (self.live_minute(m, now) for m in range(start_minute, last_minute)) if b is not None)

    def candles(self, unit: int, *, count: int, to: float | None, now: float) -> list[tuple[int, Bar]]:
        """Up to `count` candles of `unit` minutes starting before `to` (exclusive), newest first.

        Each entry is (start minute, bar). Buckets without trades are skipped, as on Upbit."""
        # `to` is exclusive: a candle that starts exactly at `to` is not returned.
        index = math.ceil(to / 60 / unit) - 1 if to is not None and to <= now else int(now // 60) // unit
        first = self.source.first_minute() // unit
        last = self.source.last_minute()
        if last is not None:
            index = min(index, last // unit)
        result: list[tuple[int, Bar]] = []
        while index >= first and len(result) < count:
            bar = self.bucket(unit, index, now)
            if bar is not None:
                result.append((index * unit, bar))
            index -= 1
        return result

    def price_range(self, since: float, until: float) -> tuple[Decimal, Decimal] | None:
        """Lowest and highest trade price between two moments (for resting limit orders)."""
        points = [p for p in (self.price(since), self.price(until)) if p is not None]
        with self._lock:
            moments = [o.at for o in self.overrides if since < o.at <= until]
        points.extend(p for p in (self.price(m) for m in moments) if p is not None)
        first_full = math.ceil(since / 60)
        last_full = int(until // 60)  # exclusive
        first_full = max(first_full, last_full - 7 * DAY_MINUTES)
        for minute in range(first_full, last_full):
            bar = self.live_minute(minute, until)
            if bar is not None:
                points.extend((bar.low, bar.high))
        if not points:
            return None
        return min(points), max(points)
