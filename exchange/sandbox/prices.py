"""Where the sandbox's prices come from: a seeded random walk or candles replayed from a CSV file.

Both sources are described the same way: "base" candles of `unit` minutes (a synthetic day, or one
CSV row) plus a deterministic expansion of each base candle into 1-minute candles that open, close,
reach the high, reach the low and trade the volume of the base candle exactly. Every candle size is
then an aggregation of base candles or of minutes, so minute, hour and day candles always agree.

`exchange.sandbox.feed.MarketFeed` puts a source on the sandbox clock, with the control endpoint's
price overrides.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from exchange.rules import VOLUME_QUANTUM, krw_tick_size

ZERO = Decimal("0")
KST_OFFSET = timedelta(hours=9)
DAY_MINUTES = 1440
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Synthetic history starts here; a strategy asking for 200 day candles always gets them.
SYNTHETIC_FIRST_DAY = (datetime(2020, 1, 1, tzinfo=UTC) - EPOCH).days

# Level around which each synthetic market walks (KRW), and the band it is reflected into.
# KRW-BTC stays within about 100,000,000 to 160,000,000 KRW, like the market of recent years.
SYNTHETIC_CENTRES: dict[str, Decimal] = {
    "BTC": Decimal("130000000"),
    "ETH": Decimal("4500000"),
    "XRP": Decimal("3000"),
    "SOL": Decimal("250000"),
    "DOGE": Decimal("300"),
}
SYNTHETIC_BAND = (Decimal("0.8"), Decimal("1.18"))  # BTC: 104,000,000 to 153,400,000 before wicks
DAILY_VOLATILITY = 0.025  # about 2.5 % a day, the usual for BTC
MINUTE_VOLATILITY = DAILY_VOLATILITY / math.sqrt(DAY_MINUTES)
DAILY_TURNOVER_KRW = {"BTC": 300_000_000_000}  # Upbit KRW-BTC trades a few hundred billion KRW a day
DEFAULT_TURNOVER_KRW = 50_000_000_000


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle. Prices on the tick grid; `volume` in coin, `value` in KRW; `last_ms` its last tick."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    value: Decimal
    last_ms: int

    def scaled(self, factor: Decimal) -> Bar:
        if factor == 1:
            return self
        return Bar(
            snap(self.open * factor),
            snap(self.high * factor),
            snap(self.low * factor),
            snap(self.close * factor),
            self.volume,
            quantize8(self.value * factor),
            self.last_ms,
        )


def quantize8(value: Decimal) -> Decimal:
    return value.quantize(VOLUME_QUANTUM, rounding=ROUND_FLOOR)


def snap(price: Decimal | float) -> Decimal:
    """The nearest price on the KRW tick grid (never below one tick)."""
    price = price if isinstance(price, Decimal) else Decimal(repr(price))
    if price <= 0:
        return krw_tick_size(Decimal("0"))
    tick = krw_tick_size(price)
    snapped = (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick
    if snapped <= 0:
        snapped = tick
    if krw_tick_size(snapped) != tick:  # crossed into a coarser band
        coarser = krw_tick_size(snapped)
        snapped = (snapped / coarser).quantize(Decimal(1), rounding=ROUND_HALF_UP) * coarser
    return snapped.quantize(tick) if tick < 1 else snapped.quantize(Decimal(1))


def aggregate(bars: Iterable[Bar]) -> Bar | None:
    first: Bar | None = None
    last: Bar | None = None
    high = low = ZERO
    volume = value = ZERO
    for bar in bars:
        if first is None:
            first = bar
            high, low = bar.high, bar.low
        else:
            high = max(high, bar.high)
            low = min(low, bar.low)
        last = bar
        volume += bar.volume
        value += bar.value
    if first is None or last is None:
        return None
    return Bar(first.open, high, low, last.close, volume, value, last.last_ms)


def _split(total: Decimal, weights: list[float]) -> list[Decimal]:
    """Split `total` by `weights` into 8-decimal parts that add up to `total` exactly."""
    weight_sum = sum(weights) or 1.0
    parts = [quantize8(total * Decimal(repr(w / weight_sum))) for w in weights]
    parts[-1] += total - sum(parts, ZERO)
    if parts[-1] < 0:  # rounding pushed the remainder negative: put it all on the largest part
        largest = max(range(len(parts) - 1), key=lambda i: parts[i])
        parts[largest] += parts[-1]
        parts[-1] = ZERO
    return parts


def _minute_ms(minute: int, salt: int) -> int:
    # Upbit's `timestamp` is the time of the candle's last trade: some moment late in the minute.
    return minute * 60_000 + 59_000 + (salt * 7919) % 1000


def expand_path(base: Bar, start_minute: int, closes: list[Decimal], weights: list[float], wicks: list[float]) -> list[Bar]:
    """Minute bars whose closes follow `closes` (on grid, within base low..high) and that together
    reproduce `base` exactly: same open, close, high, low, volume and value."""
    n = len(closes)
    volumes = _split(base.volume, weights)
    values = _split(base.value, weights)
    high_index = max(range(n), key=lambda i: closes[i])
    low_index = min(range(n), key=lambda i: closes[i])
    bars: list[Bar] = []
    previous = base.open
    for i, close in enumerate(closes):
        top = max(previous, close)
        bottom = min(previous, close)
        high = min(base.high, max(top, snap(top * Decimal(repr(1 + wicks[i])))))
        low = max(base.low, min(bottom, snap(bottom * Decimal(repr(1 - wicks[i])))))
        if i == high_index:
            high = base.high
        if i == low_index:
            low = base.low
        bars.append(Bar(previous, high, low, close, volumes[i], values[i], _minute_ms(start_minute + i, i)))
        previous = close
    return bars


# --- sources -------------------------------------------------------------------------------------------


class Source:
    """Base candles of `unit` minutes; `base(index)` is the candle starting at minute index * unit."""

    unit: int = DAY_MINUTES

    def base(self, index: int) -> Bar | None:  # pragma: no cover - interface
        raise NotImplementedError

    def minutes(self, index: int) -> list[Bar | None]:  # pragma: no cover - interface
        raise NotImplementedError

    def first_minute(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def last_minute(self) -> int | None:
        """The last minute with data, or None when the source never ends."""
        return None

    def last_close_before(self, minute: int) -> Decimal | None:  # pragma: no cover - interface
        raise NotImplementedError


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[object, object] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: object, value: object) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


# Synthetic data depends only on (seed, market, day), so every server in the process can share it.
_DAY_WALKS: dict[tuple[int, str], tuple[list[float], random.Random]] = {}
_DAY_WALK_LOCK = threading.Lock()
_MINUTE_CACHE = _LRU(256)


class SyntheticSource(Source):
    """A seeded, mean-reverting random walk of daily prices, each day bridged minute by minute."""

    unit = DAY_MINUTES

    def __init__(self, market: str, seed: int) -> None:
        self.market = market
        self.seed = seed
        coin = market.split("-", 1)[1]
        centre = SYNTHETIC_CENTRES.get(coin, Decimal("10000"))
        self.centre = math.log(float(centre))
        self.low_bound = math.log(float(centre * SYNTHETIC_BAND[0]))
        self.high_bound = math.log(float(centre * SYNTHETIC_BAND[1]))
        self.turnover = DAILY_TURNOVER_KRW.get(coin, DEFAULT_TURNOVER_KRW)

    def _log_open(self, day: int) -> float:
        """The log opening price of `day` (days since 1970-01-01), walked forward from 2020-01-01."""
        key = (self.seed, self.market)
        offset = day - SYNTHETIC_FIRST_DAY
        with _DAY_WALK_LOCK:
            entry = _DAY_WALKS.get(key)
            if entry is None:
                rng = random.Random(f"{self.seed}:{self.market}:days")  # noqa: S311 - a seeded, repeatable walk
                entry = ([self.centre + rng.gauss(0, 0.05)], rng)
                _DAY_WALKS[key] = entry
            walk, rng = entry
            while len(walk) <= offset:
                x = walk[-1]
                x += 0.03 * (self.centre - x) + rng.gauss(0, DAILY_VOLATILITY)
                # Reflect into the band so the market keeps looking like itself however long it runs.
                if x > self.high_bound:
                    x = 2 * self.high_bound - x
                if x < self.low_bound:
                    x = 2 * self.low_bound - x
                walk.append(x)
            return walk[offset]

    def _day(self, index: int) -> tuple[Bar, random.Random] | None:
        """The day's candle and the random stream positioned after it (the minutes continue from it)."""
        if index < SYNTHETIC_FIRST_DAY:
            return None
        rng = random.Random(f"{self.seed}:{self.market}:{index}")  # noqa: S311 - a seeded, repeatable walk
        open_ = snap(math.exp(self._log_open(index)))
        close = snap(math.exp(self._log_open(index + 1)))
        spread = DAILY_VOLATILITY * 0.6
        high = max(open_, close, snap(float(max(open_, close)) * math.exp(abs(rng.gauss(0, spread)))))
        low = min(open_, close, snap(float(min(open_, close)) * math.exp(-abs(rng.gauss(0, spread)))))
        typical = (open_ + high + low + close) / 4
        value = quantize8(Decimal(repr(self.turnover * math.exp(rng.gauss(0, 0.35)))))
        volume = quantize8(value / typical)
        value = quantize8(volume * typical)
        bar = Bar(open_, high, low, close, volume, value, _minute_ms(index * DAY_MINUTES + DAY_MINUTES - 1, index))
        return bar, rng

    def base(self, index: int) -> Bar | None:
        day = self._day(index)
        return day[0] if day else None

    def minutes(self, index: int) -> list[Bar | None]:
        key = ("synthetic", self.seed, self.market, index)
        cached = _MINUTE_CACHE.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        day = self._day(index)
        if day is None:
            result: list[Bar | None] = [None] * DAY_MINUTES
            _MINUTE_CACHE.put(key, result)
            return result
        base, rng = day
        n = DAY_MINUTES
        walk = [0.0]
        for _ in range(n):
            walk.append(walk[-1] + rng.gauss(0, 1))
        o = float(base.open)
        target = math.log(float(base.close) / o)
        top_target = math.log(float(base.high) / o)
        bottom_target = math.log(float(base.low) / o)
        path = [(walk[k] - k / n * walk[n]) * MINUTE_VOLATILITY + k / n * target for k in range(1, n + 1)]
        top, bottom = max(0.0, target), min(0.0, target)
        highest, lowest = max(path), min(path)
        # Stretch the excursions so the day's closes reach its high and low but never pass them.
        up = (top_target - top) / (highest - top) if highest > top else 0.0
        down = (bottom - bottom_target) / (bottom - lowest) if lowest < bottom else 0.0
        closes: list[Decimal] = []
        for y in path:
            if y > top:
                y = top + (y - top) * up
            elif y < bottom:
                y = bottom - (bottom - y) * down
            closes.append(min(base.high, max(base.low, snap(o * math.exp(y)))))
        closes[-1] = base.close
        weights = [0.4 + rng.random() + abs(path[i] - (path[i - 1] if i else 0.0)) / MINUTE_VOLATILITY for i in range(n)]
        wicks = [abs(rng.gauss(0, MINUTE_VOLATILITY * 0.5)) for _ in range(n)]
        result = list(expand_path(base, index * DAY_MINUTES, closes, weights, wicks))
        _MINUTE_CACHE.put(key, result)
        return result

    def first_minute(self) -> int:
        return SYNTHETIC_FIRST_DAY * DAY_MINUTES

    def last_close_before(self, minute: int) -> Decimal | None:
        day = minute // DAY_MINUTES
        if day < SYNTHETIC_FIRST_DAY:
            return None
        bar = self.minutes(day)[minute % DAY_MINUTES]
        return bar.close if bar else None


class CsvSourceError(ValueError):
    """The price file cannot be replayed; the message says which line and why."""


def _decimal(text: str, *, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise CsvSourceError(f"{where}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise CsvSourceError(f"{where}: {text!r} is not a usable number")
    return value


def _naive_time(text: str, *, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CsvSourceError(f"{where}: {text!r} is not a date and time") from None
    return parsed.replace(tzinfo=None)


def read_candle_csv(path: Path) -> tuple[int, dict[int, Bar]]:
    """Read Upbit's candle columns or pyupbit's OHLCV layout; return (unit minutes, bars by UTC minute).

    Duplicated candles are kept once, missing ones stay missing (Upbit has no candle for a minute
    without trades)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise CsvSourceError(f"{path}: cannot be read ({error.strerror})") from None
    bars: dict[int, Bar] = {}
    units: set[int] = set()
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise CsvSourceError(f"{path}: the file is empty")
        columns = [name.strip() for name in header]
        upbit_layout = "candle_date_time_utc" in columns
        if upbit_layout:
            needed: tuple[str, ...] = (
                "candle_date_time_utc",
                "opening_price",
                "high_price",
                "low_price",
                "trade_price",
                "candle_acc_trade_volume",
            )
        else:
            needed = ("open", "high", "low", "close", "volume")
        missing = [name for name in needed if name not in columns]
        if missing:
            raise CsvSourceError(
                f"{path}: missing column(s) {', '.join(missing)}; use Upbit's candle columns "
                "(candle_date_time_utc, opening_price, ...) or pyupbit's layout "
                "(time index, open, high, low, close, volume, value)"
            )
        at = {name: columns.index(name) for name in columns if name}
        for line_number, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            where = f"{path}:{line_number}"
            if upbit_layout:
                start = _naive_time(row[at["candle_date_time_utc"]], where=where)
                o, h, low, c = (
                    _decimal(row[at[name]], where=where) for name in ("opening_price", "high_price", "low_price", "trade_price")
                )
                volume = _decimal(row[at["candle_acc_trade_volume"]], where=where)
                value_text = row[at["candle_acc_trade_price"]] if "candle_acc_trade_price" in at else ""
                if "unit" in at and row[at["unit"]].strip():
                    units.add(int(_decimal(row[at["unit"]], where=where)))
            else:
                # pyupbit writes its index (KST, no zone) as the first, unnamed column.
                start = _naive_time(row[0], where=where) - KST_OFFSET
                o, h, low, c = (_decimal(row[at[name]], where=where) for name in ("open", "high", "low", "close"))
                volume = _decimal(row[at["volume"]], where=where)
                value_text = row[at["value"]] if "value" in at else ""
            if not (low <= min(o, c) and max(o, c) <= h and low > 0):
                raise CsvSourceError(f"{where}: open/high/low/close are inconsistent ({o}, {h}, {low}, {c})")
            typical = (o + h + low + c) / 4
            value = _decimal(value_text, where=where) if value_text.strip() else quantize8(volume * typical)
            minute = int((start.replace(tzinfo=UTC) - EPOCH).total_seconds() // 60)
            if minute in bars:
                continue
            bars[minute] = Bar(
                snap(o), snap(h), snap(low), snap(c), quantize8(volume), quantize8(value), minute * 60_000 + 59_000
            )
    if len(bars) < 2:
        raise CsvSourceError(f"{path}: needs at least two candles to replay")
    minutes = sorted(bars)
    unit = min(units) if units else min(b - a for a, b in itertools.pairwise(minutes))
    if unit <= 0 or (DAY_MINUTES % unit and unit % DAY_MINUTES):
        raise CsvSourceError(f"{path}: candles every {unit} minutes cannot be replayed; use 1, 3, 5, 10, 15, 30, 60, 240 or 1440")
    return unit, bars


class CsvSource(Source):
    """Candles from a file, shifted in time so that the file plays on from `history` candles ago."""

    def __init__(self, path: Path, *, now_minute: int, history: int | None = None) -> None:
        unit, bars = read_candle_csv(path)
        self.unit = unit
        file_minutes = sorted(bars)
        count = len(file_minutes)
        keep = min(count - 1, max(200, count // 2)) if history is None else max(0, min(count - 1, history))
        anchor = file_minutes[keep] // unit * unit
        now_bucket = now_minute // unit * unit
        shift = now_bucket - anchor
        if unit < DAY_MINUTES:
            shift -= shift % unit
        self.shift = shift
        self.bars = {minute + shift: bar for minute, bar in bars.items()}
        self.sorted_minutes = sorted(self.bars)
        self.path = path
        self.seed_text = f"{path}:{shift}"

    def base(self, index: int) -> Bar | None:
        bar = self.bars.get(index * self.unit)
        if bar is None:
            return None
        # The file's timestamps were shifted: move `last_ms` with them.
        last_ms = (index * self.unit + self.unit - 1) * 60_000 + 59_000
        return Bar(bar.open, bar.high, bar.low, bar.close, bar.volume, bar.value, last_ms)

    def minutes(self, index: int) -> list[Bar | None]:
        if self.unit == 1:
            return [self.base(index)]
        key = ("csv", self.seed_text, index)
        cached = _MINUTE_CACHE.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        base = self.base(index)
        n = self.unit
        if base is None:
            result: list[Bar | None] = [None] * n
        else:
            # Open → low → high → close on a rising candle, open → high → low → close on a falling one.
            rising = base.close >= base.open
            waypoints = [base.open, base.low if rising else base.high, base.high if rising else base.low, base.close]
            closes: list[Decimal] = []
            for k in range(1, n + 1):
                position = k * 3 / n
                leg = min(2, int(position))
                fraction = Decimal(repr(position - leg))
                start, end = waypoints[leg], waypoints[leg + 1]
                closes.append(min(base.high, max(base.low, snap(start + (end - start) * fraction))))
            closes[-1] = base.close
            result = list(expand_path(base, index * n, closes, [1.0] * n, [0.0] * n))
        _MINUTE_CACHE.put(key, result)
        return result

    def first_minute(self) -> int:
        return self.sorted_minutes[0]

    def last_minute(self) -> int | None:
        return self.sorted_minutes[-1] + self.unit - 1

    def last_close_before(self, minute: int) -> Decimal | None:
        position = bisect.bisect_right(self.sorted_minutes, minute) - 1
        if position < 0:
            return None
        start = self.sorted_minutes[position]
        if start + self.unit > minute:  # inside this base candle: use its minute bar
            bars = self.minutes(start // self.unit)
            for bar in reversed(bars[: minute - start + 1]):
                if bar is not None:
                    return bar.close
        return self.bars[start].close
