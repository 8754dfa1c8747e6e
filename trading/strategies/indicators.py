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

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from exchange.types import Candle

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SECONDS_PER_DAY = 86400


def to_float_array(values: Sequence[Decimal] | Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Turn prices (Decimal, float or int) into a contiguous float64 array: the one crossing from money to indicators."""
    if isinstance(values, np.ndarray):
        return np.ascontiguousarray(values, dtype=np.float64)
    return np.fromiter((float(value) for value in values), dtype=np.float64)  # type: ignore[union-attr]


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
        open: npt.ArrayLike,  # noqa: A002 - the candle's own name for it
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        start: npt.ArrayLike,
        volume: npt.ArrayLike | None = None,
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
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"EMA period must be a whole number of at least 1, got {period!r}")
    x = to_float_array(values)
    if x.shape[0] == 0 or period == 1:
        return x.copy()
    alpha = 2.0 / (period + 1.0)
    out = np.empty(x.shape[0], dtype=np.float64)
    target = memoryview(out)
    level = float(x[0])
    for index, value in enumerate(memoryview(x)):
        level += alpha * (value - level)
        target[index] = level
    return out


def sma(values: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average over `period` values; the first `period - 1` outputs are NaN (not enough data)."""
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"SMA period must be a whole number of at least 1, got {period!r}")
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
