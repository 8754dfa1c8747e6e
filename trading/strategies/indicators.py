"""Technical indicators on float64 arrays, shared by the live engine and the backtester.

The Decimal/float boundary: prices arrive as `Decimal` (from `exchange.types.Candle`) and are turned
into float64 arrays once, by `CandleArrays.from_candles` or `to_float_array`. Indicators are not money:
an EMA or a MACD value only decides *whether* to trade, and float64 holds a KRW price of 10^8 to about
10^-8 KRW. Everything that is money (order totals, volumes, balances, fees, PnL) stays `Decimal` and is
computed in `trading/engine/risk.py` and the order code, never from these arrays.

Every function is vectorised over the whole series so that the backtester computes an indicator over
half a million candles once, and the live engine computes it over its last few hundred candles with
the very same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, SupportsFloat, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from exchange.types import Candle

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Column = Sequence[Decimal] | Sequence[float] | npt.ArrayLike
"""Prices or volumes in any of the forms the indicators accept: Decimals, floats, or a numpy array."""

SECONDS_PER_DAY = 86400


def to_float_array(values: Column) -> FloatArray:
    """Turn prices (Decimal, float or int) into a contiguous float64 array: the one crossing from money to indicators."""
    if isinstance(values, np.ndarray):
        return np.ascontiguousarray(values, dtype=np.float64)
    return np.fromiter((float(value) for value in cast("Iterable[SupportsFloat]", values)), dtype=np.float64)


def _floats(array: FloatArray) -> memoryview[float]:
    """A float64 array as a memoryview of Python floats: the fast way for a plain loop to read or write it."""
    return cast("memoryview[float]", array.data)  # its format is already "d"


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """Candles as columns, oldest first: float64 prices and volumes, int64 start times (UTC epoch seconds).

    `unit_sec` is the candle length in seconds (60 for one-minute candles); when not given it is taken
    from the most common spacing of `start` (gaps, such as a minute without trades, do not change it).
    """

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    start: IntArray
    unit_sec: int

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @classmethod
    def from_columns(
        cls,
        *,
        open: Column,
        high: Column,
        low: Column,
        close: Column,
        start: npt.ArrayLike,
        volume: Column | None = None,
        unit_sec: int | None = None,
    ) -> CandleArrays:
        """Build from equally long columns; `start` in UTC epoch seconds. Raises ValueError on ragged or unordered input."""
        close_a = to_float_array(close)
        n = close_a.shape[0]
        columns = {
            "open": to_float_array(open),
            "high": to_float_array(high),
            "low": to_float_array(low),
            "close": close_a,
            "volume": to_float_array(volume) if volume is not None else np.zeros(n, dtype=np.float64),
        }
        start_a = np.ascontiguousarray(start, dtype=np.int64)
        for name, column in (*columns.items(), ("start", start_a)):
            if column.ndim != 1 or column.shape[0] != n:
                raise ValueError(f"candle column {name!r} has {column.shape[0] if column.ndim else 0} values; expected {n}")
        if n > 1 and bool(np.any(np.diff(start_a) <= 0)):
            raise ValueError("candle start times must be strictly increasing (oldest first, no duplicates)")
        if unit_sec is None:
            unit_sec = infer_unit_sec(start_a)
        if unit_sec <= 0:
            raise ValueError(f"candle unit must be a positive number of seconds, got {unit_sec}")
        return cls(start=start_a, unit_sec=int(unit_sec), **columns)

    @classmethod
    def from_candles(cls, candles: Sequence[Candle]) -> CandleArrays:
        """Build from `exchange.types.Candle` objects, oldest first."""
        unit_sec = candles[0].unit * 60 if candles else 60
        return cls.from_columns(
            open=[c.open for c in candles],
            high=[c.high for c in candles],
            low=[c.low for c in candles],
            close=[c.close for c in candles],
            volume=[c.volume for c in candles],
            start=np.fromiter((int(c.start.timestamp()) for c in candles), dtype=np.int64, count=len(candles)),
            unit_sec=unit_sec,
        )

    def window(self, stop: int, length: int | None = None) -> CandleArrays:
        """The candles `[stop - length, stop)` (or `[0, stop)`) as their own arrays, e.g. what the live engine would see."""
        begin = 0 if length is None else max(0, stop - length)
        return CandleArrays(
            open=self.open[begin:stop],
            high=self.high[begin:stop],
            low=self.low[begin:stop],
            close=self.close[begin:stop],
            volume=self.volume[begin:stop],
            start=self.start[begin:stop],
            unit_sec=self.unit_sec,
        )


def infer_unit_sec(start: IntArray) -> int:
    """The most common spacing between consecutive start times; 60 when there are fewer than two candles."""
    if start.shape[0] < 2:
        return 60
    steps, counts = np.unique(np.diff(start), return_counts=True)
    return int(steps[int(np.argmax(counts))])


def _check_period(name: str, period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"{name} period must be a whole number of at least 1, got {period!r}")


def ema(values: npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, pandas `ewm(span=period, adjust=False).mean()`.

    alpha = 2 / (period + 1); the first output equals the first input (seeded from the first value, no
    SMA seed and no leading NaN): y[0] = x[0], y[t] = y[t-1] + alpha * (x[t] - y[t-1]). Because of the
    seed the first few `period`s are a warm-up; strategies ignore them (see each strategy's `min_candles`).

    The recursion runs as a plain loop over Python floats (about 0.1 µs a candle: 50 ms for a year of
    minutes) rather than a closed-form vectorisation, because only the loop keeps a run of equal
    prices exactly equal to its EMA; the closed form leaves 1e-14-sized noise that shows up as false
    MACD crosses in quiet minutes. It reads and writes the arrays through memoryviews, so no list of
    half a million float objects is built on the way.
    """
    _check_period("EMA", period)
    x = to_float_array(values)
    if x.shape[0] == 0 or period == 1:
        return x.copy()
    alpha = 2.0 / (period + 1.0)
    out = np.empty(x.shape[0], dtype=np.float64)
    target = _floats(out)
    level = float(x[0])
    for index, value in enumerate(_floats(x)):
        level += alpha * (value - level)
        target[index] = level
    return out


def sma(values: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average over `period` values; the first `period - 1` outputs are NaN (not enough data)."""
    _check_period("SMA", period)
    x = to_float_array(values)
    n = x.shape[0]
    out = np.full(n, np.nan, dtype=np.float64)
    if n >= period:
        # A window sum per output (not a running cumsum) so the error does not grow along a long series.
        out[period - 1 :] = np.convolve(x, np.full(period, 1.0 / period), mode="valid")
    return out


@dataclass(frozen=True, slots=True)
class Macd:
    line: FloatArray
    """EMA(fast) - EMA(slow) of the close."""
    signal: FloatArray
    """EMA(signal) of the line."""
    histogram: FloatArray
    """line - signal: positive while the line is above its signal."""


def macd(close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """MACD line, signal line and histogram, all with the EMA above (seeded from the first value)."""
    x = to_float_array(close)
    line = ema(x, fast) - ema(x, slow)
    signal_line = ema(line, signal)
    return Macd(line=line, signal=signal_line, histogram=line - signal_line)


def candle_range(high: npt.ArrayLike, low: npt.ArrayLike) -> FloatArray:
    """high - low of each candle (the range Larry Williams' breakout multiplies by K)."""
    return to_float_array(high) - to_float_array(low)


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """Wilder's true range: max(high - low, |high - previous close|, |low - previous close|); the first is high - low."""
    h, lo, c = to_float_array(high), to_float_array(low), to_float_array(close)
    out = h - lo
    if out.shape[0] > 1:
        previous = c[:-1]
        out[1:] = np.maximum(out[1:], np.maximum(np.abs(h[1:] - previous), np.abs(lo[1:] - previous)))
    return out


def crossed_above(a: FloatArray, b: FloatArray) -> npt.NDArray[np.bool_]:
    """True at t when a[t] > b[t] and a[t-1] <= b[t-1] (never at t = 0 or where either side is NaN)."""
    out = np.zeros(a.shape[0], dtype=np.bool_)
    if a.shape[0] > 1:
        with np.errstate(invalid="ignore"):
            out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def crossed_below(a: FloatArray, b: FloatArray) -> npt.NDArray[np.bool_]:
    """True at t when a[t] < b[t] and a[t-1] >= b[t-1] (never at t = 0 or where either side is NaN)."""
    out = np.zeros(a.shape[0], dtype=np.bool_)
    if a.shape[0] > 1:
        with np.errstate(invalid="ignore"):
            out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return out


def wilder_average(values: npt.ArrayLike, period: int, first: int = 0) -> FloatArray:
    """Wilder's smoothing (his "moving average", an EMA with alpha = 1 / period), seeded with a plain mean.

    The first output is at index `first + period - 1`: the mean of `values[first : first + period]`.
    After that y[t] = (y[t-1] * (period - 1) + x[t]) / period. Earlier outputs are NaN. `first` skips
    leading values that are not defined (RSI's first change needs a previous close).

    The recursion is a plain loop over Python floats, like `ema`: about 0.08 µs a value (40 ms for a year
    of minutes, 50 ms for an ATR with its true range), which is why the ATR is computed only when a rule
    reads it.
    """
    _check_period("Wilder average", period)
    x = to_float_array(values)
    n = x.shape[0]
    out = np.full(n, np.nan, dtype=np.float64)
    seed_at = first + period - 1
    if n <= seed_at:
        return out
    level = float(np.mean(x[first : seed_at + 1]))
    out[seed_at] = level
    keep = float(period - 1)
    size = float(period)
    target = _floats(out)
    for index, value in enumerate(_floats(x[seed_at + 1 :]), start=seed_at + 1):
        level = (level * keep + value) / size
        target[index] = level
    return out


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's average true range over `period` candles, in price units.

    The true range is `true_range` (the first candle's is its high - low, having no previous close). The
    first ATR, at index `period - 1`, is the mean of the first `period` true ranges (Wilder's own
    worksheet, also StockCharts'); then ATR[t] = (ATR[t-1] * (period - 1) + TR[t]) / period. NaN before
    that. The seed decays by (1 - 1/period) a candle, so a window of 10 * period candles agrees with a long
    history to about 10^-4 of the value (see `WILDER_WARMUP_PERIODS` in base.py).
    """
    _check_period("ATR", period)
    return wilder_average(true_range(high, low, close), period)


def atr_ratio(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """ATR(period) / close of the same candle: the realized volatility as a fraction of the price.

    0.02 means the average candle moves 2% of the price; * 100 gives the percent the volatility filter
    (`max_volatility_pct`) compares. NaN during the ATR's warm-up and where the close is not positive.
    """
    c = to_float_array(close)
    average = atr(high, low, c, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, average / c, np.nan)


def rsi(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's relative strength index (1978) of the close, 0 to 100.

    Changes d[t] = close[t] - close[t-1]; gains are the positive changes, losses the negative ones as
    positive numbers (0 otherwise). Average gain and average loss are `wilder_average`s of them, seeded
    with the plain mean of the first `period` changes (so the first RSI is at index `period`; NaN before).
    RSI = 100 - 100 / (1 + average gain / average loss): 100 when there were no losses, and 50 when the
    price did not move at all in the averaged span (neither gains nor losses: no strength either way).
    """
    _check_period("RSI", period)
    c = to_float_array(close)
    n = c.shape[0]
    change = np.zeros(n, dtype=np.float64)
    if n > 1:
        change[1:] = np.diff(c)
    gain = wilder_average(np.maximum(change, 0.0), period, first=1)
    loss = wilder_average(np.maximum(-change, 0.0), period, first=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 - 100.0 / (1.0 + gain / loss)
    out = np.where(loss == 0, np.where(gain > 0, 100.0, 50.0), out)
    out[np.isnan(gain)] = np.nan
    return out
