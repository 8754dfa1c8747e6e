"""Stored candles served as a live market at a simulated moment: what the engine sees during a replay.

`ReplayMarket` implements the paper exchange's `MarketData` protocol (ticker, minute and day candles,
order book) over the candles of one stored unit, and owns the simulated clock. `advance_to(i, k)`
moves it to point `k` of candle `i` (open, low, high, close: `trading.strategies.market_model`), at the
moment `start + path_offsets(unit_sec)[k]`, where the price is that point's price.

The endpoints answer as Upbit does (exchange/upbit.py, docs/SANDBOX.md):

- candles: up to `count` (1-200) candles whose start is before `to` (exclusive; default: now), oldest
  first as our client returns them, INCLUDING the candle still forming at the current moment, with its
  prices so far along the path (open; low and high of the points visited; close = the current price)
  and its volume so far (the stored volume times the part of the candle elapsed). The engine must drop
  that candle itself, as it must on Upbit. Minutes without a stored candle have none (gaps stay gaps);
- other units: a unit that is a whole multiple of the stored one (hours from minutes, days from hours)
  is aggregated from the stored candles on Upbit's UTC grid; any other unit (minutes from hours) gets
  an empty list, as if the exchange had no history for it;
- the ticker: `trade_price` = the current price, `timestamp` = the current moment (the other fields stay 0);
- the order book: `one_level_book(current price)`: the fills' single source of truth, shared with the backtest.

Speed: the engine asks for candles several times per cycle, and a replay runs tens of thousands of
cycles. Closed candles are built once (per unit and index) and kept; only the forming one is built per
call; look-ups are bisections over Python lists of start times.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from exchange.exceptions import InvalidRequest
from exchange.types import Candle, OrderBook, OrderBookLevel, Ticker
from trading.strategies.indicators import CandleArrays
from trading.strategies.market_model import one_level_book, path_offsets, path_prices

MAX_COUNT = 200
"""Upbit's largest candle request."""
MINUTE_UNITS = (1, 3, 5, 10, 15, 30, 60, 240)
DAY_UNIT = 1440
_VOLUME_QUANTUM = Decimal("0.00000001")


def decimal_price(value: float) -> Decimal:
    """A stored price read back as the decimal it was: repr() of a float read from a decimal of at most
    15 significant digits gives that decimal back exactly (the backtest reads prices the same way)."""
    return Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True)
class _Grid:
    """The stored candles grouped into candles of one requested unit (one group per non-empty bucket)."""

    unit: int
    starts: list[int]
    """Epoch seconds of each bucket's start, ascending."""
    first: list[int]
    """The index of each bucket's first stored candle; the bucket ends where the next one begins."""
    bucket_of: list[int]
    """For each stored candle, the bucket it belongs to."""
    closed: list[Candle | None]
    """Each bucket as a finished candle, built on first use."""


class ReplayMarket:
    """One market's stored candles, seen from a simulated moment (see the module docstring)."""

    def __init__(self, arrays: CandleArrays, *, market: str) -> None:
        if len(arrays) == 0:
            raise ValueError("a replay market needs at least one candle")
        self.arrays = arrays
        self.market = market
        self.unit_sec = int(arrays.unit_sec)
        self.offsets = path_offsets(self.unit_sec)
        self._starts: list[int] = [int(value) for value in arrays.start.tolist()]
        self._open: list[float] = arrays.open.tolist()
        self._high: list[float] = arrays.high.tolist()
        self._low: list[float] = arrays.low.tolist()
        self._close: list[float] = arrays.close.tolist()
        self._volume: list[float] = arrays.volume.tolist()
        self._grids: dict[int, _Grid | None] = {}
        self._books: dict[Decimal, tuple[OrderBookLevel, ...]] = {}
        self._before: dict[tuple[int, int], tuple[Decimal, Decimal, Decimal]] = {}
        self._points_index = -1
        self._points: tuple[Decimal, Decimal, Decimal, Decimal] = (Decimal(0),) * 4
        self._volume_dec: Decimal = Decimal(0)
        self.index = 0
        self.point = 0
        self.epoch = 0
        self.moment = datetime.fromtimestamp(0, tz=UTC)
        self.price = Decimal(0)
        self.advance_to(0, 0)

    def __len__(self) -> int:
        return len(self._starts)

    # --- the clock ---------------------------------------------------------------------------------
    def advance_to(self, index: int, point: int) -> None:
        """Move to point `point` (0 open, 1 low, 2 high, 3 close) of stored candle `index`."""
        if not 0 <= index < len(self._starts) or not 0 <= point < 4:
            raise IndexError(f"no path point {point} of candle {index} (there are {len(self._starts)} candles)")
        if index != self._points_index:
            self._points = path_prices(
                decimal_price(self._open[index]),
                decimal_price(self._high[index]),
                decimal_price(self._low[index]),
                decimal_price(self._close[index]),
            )
            self._volume_dec = Decimal(repr(self._volume[index]))
            self._points_index = index
        self.index, self.point = index, point
        self.epoch = self._starts[index] + self.offsets[point]
        self.moment = datetime.fromtimestamp(self.epoch, tz=UTC)
        self.price = self._points[point]

    def now(self) -> datetime:
        """The simulated moment: the clock the engine and the paper exchange are given."""
        return self.moment

    def start_of(self, index: int) -> datetime:
        return datetime.fromtimestamp(self._starts[index], tz=UTC)

    def index_at(self, moment: datetime) -> int:
        """The stored candle whose time span holds `moment` (the last one started by then; -1 before the first)."""
        return bisect_right(self._starts, int(moment.timestamp())) - 1

    # --- market data -------------------------------------------------------------------------------
    def _check_market(self, market: str) -> None:
        if market != self.market:
            raise InvalidRequest(f"the replay serves {self.market} only, not {market!r}", name="notfoundmarket", status=404)

    def get_ticker(self, market: str) -> Ticker:
        self._check_market(market)
        return Ticker(market=market, trade_price=self.price, timestamp=self.moment)

    def get_orderbook(self, market: str) -> OrderBook:
        self._check_market(market)
        levels = self._books.get(self.price)
        if levels is None:
            if len(self._books) > 10_000:
                self._books.clear()
            levels = self._books[self.price] = one_level_book(self.price)
        return OrderBook(market=market, timestamp=self.moment, levels=levels)

    def get_minute_candles(self, market: str, *, unit: int = 1, count: int = 200, to: datetime | None = None) -> list[Candle]:
        self._check_market(market)
        if unit not in MINUTE_UNITS:
            raise InvalidRequest(f"minute candle unit must be one of {list(MINUTE_UNITS)}, not {unit}", name="validation_error")
        return self._candles(unit, count, to)

    def get_day_candles(self, market: str, *, count: int = 200, to: datetime | None = None) -> list[Candle]:
        self._check_market(market)
        return self._candles(DAY_UNIT, count, to)

    # --- candles -----------------------------------------------------------------------------------
    def _candles(self, unit: int, count: int, to: datetime | None) -> list[Candle]:
        if not 1 <= count <= MAX_COUNT:
            raise InvalidRequest(f"candle count must be from 1 to {MAX_COUNT}, not {count}", name="validation_error")
        grid = self._grid(unit)
        if grid is None:
            return []
        current = grid.bucket_of[self.index]
        last = current
        if to is not None:
            # `to` is exclusive: a candle that starts exactly at `to` is not returned.
            last = min(current, bisect_left(grid.starts, to.timestamp()) - 1)
        if last < 0:
            return []
        first = max(0, last - count + 1)
        closed_end = min(last + 1, current)
        result: list[Candle] = []
        if first < closed_end:
            chunk = grid.closed[first:closed_end]
            if None in chunk:
                for bucket in range(first, closed_end):
                    if grid.closed[bucket] is None:
                        grid.closed[bucket] = self._closed_bucket(grid, bucket)
                chunk = grid.closed[first:closed_end]
            result = chunk  # type: ignore[assignment]  # every entry was filled just above
        if last == current:
            result.append(self._forming_bucket(grid, current))
        return result

    def _grid(self, unit: int) -> _Grid | None:
        if unit in self._grids:
            return self._grids[unit]
        step = unit * 60
        grid: _Grid | None = None
        if step % self.unit_sec == 0:
            starts: list[int] = []
            first: list[int] = []
            bucket_of: list[int] = []
            for index, start in enumerate(self._starts):
                bucket_start = start - start % step
                if not starts or starts[-1] != bucket_start:
                    starts.append(bucket_start)
                    first.append(index)
                bucket_of.append(len(starts) - 1)
            grid = _Grid(unit=unit, starts=starts, first=first, bucket_of=bucket_of, closed=[None] * len(starts))
        self._grids[unit] = grid
        return grid

    def _bucket_range(self, grid: _Grid, bucket: int) -> range:
        end = grid.first[bucket + 1] if bucket + 1 < len(grid.first) else len(self._starts)
        return range(grid.first[bucket], end)

    def _closed_bucket(self, grid: _Grid, bucket: int) -> Candle:
        indices = self._bucket_range(grid, bucket)
        lo, hi = indices.start, indices.stop
        return Candle(
            market=self.market,
            unit=grid.unit,
            start=datetime.fromtimestamp(grid.starts[bucket], tz=UTC),
            open=decimal_price(self._open[lo]),
            high=decimal_price(max(self._high[lo:hi])),
            low=decimal_price(min(self._low[lo:hi])),
            close=decimal_price(self._close[hi - 1]),
            volume=sum((Decimal(repr(v)) for v in self._volume[lo:hi]), Decimal(0)),
        )

    def _forming_bucket(self, grid: _Grid, bucket: int) -> Candle:
        """The bucket holding the current moment: its closed stored candles and the current one so far."""
        points = self._points[: self.point + 1]
        high, low, close = max(points), min(points), points[-1]
        elapsed = Decimal(self.offsets[self.point]) / Decimal(self.unit_sec)
        volume = (self._volume_dec * elapsed).quantize(_VOLUME_QUANTUM)
        lo = grid.first[bucket]
        if lo < self.index:
            key = (grid.unit, self.index)
            before = self._before.get(key)
            if before is None:
                # The bucket's closed stored candles before the current one: the same for all four points.
                before = self._before[key] = (
                    decimal_price(max(self._high[lo : self.index])),
                    decimal_price(min(self._low[lo : self.index])),
                    sum((Decimal(repr(v)) for v in self._volume[lo : self.index]), Decimal(0)),
                )
                if len(self._before) > 64:
                    self._before = {key: before}
            high, low, volume = max(high, before[0]), min(low, before[1]), volume + before[2]
        return Candle(
            market=self.market,
            unit=grid.unit,
            start=datetime.fromtimestamp(grid.starts[bucket], tz=UTC),
            open=decimal_price(self._open[lo]) if lo < self.index else self._points[0],
            high=high,
            low=low,
            close=close,
            volume=volume,
        )
