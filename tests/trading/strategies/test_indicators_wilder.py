"""Wilder's smoothing and what is built on it: RSI, ATR and the ATR / close ratio."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from trading.strategies.indicators import atr, atr_ratio, rsi, true_range, wilder_average

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def real_candles() -> tuple[list[float], list[float], list[float]]:
    with (FIXTURES / "upbit-krw-btc-60m-excerpt.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return [float(r["high"]) for r in rows], [float(r["low"]) for r in rows], [float(r["close"]) for r in rows]


def loop_wilder(values: list[float], period: int, first: int = 0) -> list[float]:
    """Wilder's worksheet written out: the mean of the first `period` values, then (prev * (n - 1) + x) / n."""
    out = [math.nan] * len(values)
    seed_at = first + period - 1
    if len(values) <= seed_at:
        return out
    out[seed_at] = sum(values[first : seed_at + 1]) / period
    for t in range(seed_at + 1, len(values)):
        out[t] = (out[t - 1] * (period - 1) + values[t]) / period
    return out


def loop_rsi(closes: list[float], period: int) -> list[float]:
    gains = [0.0] + [max(b - a, 0.0) for a, b in itertools.pairwise(closes)]
    losses = [0.0] + [max(a - b, 0.0) for a, b in itertools.pairwise(closes)]
    avg_gain, avg_loss = loop_wilder(gains, period, 1), loop_wilder(losses, period, 1)
    out = []
    for gain, loss in zip(avg_gain, avg_loss, strict=True):
        if math.isnan(gain):
            out.append(math.nan)
        elif loss == 0:
            out.append(100.0 if gain > 0 else 50.0)
        else:
            out.append(100 - 100 / (1 + gain / loss))
    return out


# --- Wilder's average ------------------------------------------------------------------------------
def test_wilder_average_hand_checked():
    # period 3: mean(3, 6, 9) = 6 at index 2; then (6 * 2 + 12) / 3 = 8; (8 * 2 + 2) / 3 = 6
    got = wilder_average([3, 6, 9, 12, 2], 3)
    assert np.isnan(got[:2]).all()
    assert got[2:].tolist() == [6.0, 8.0, 6.0]


def test_wilder_average_skips_leading_values_and_handles_short_input():
    # first=1: the seed is mean(6, 9) at index 2; then (7.5 + 12) / 2 = 9.75
    assert wilder_average([100, 6, 9, 12], 2, first=1)[2:].tolist() == [7.5, 9.75]
    assert np.isnan(wilder_average([1.0, 2.0], 3)).all()
    assert wilder_average([], 3).shape == (0,)
    assert wilder_average([4.0, 5.0], 1).tolist() == [4.0, 5.0]


@pytest.mark.parametrize("period", [0, -1, 1.5, True, "14"])
def test_wilder_average_rejects_a_bad_period(period):
    with pytest.raises(ValueError, match="period must be a whole number"):
        wilder_average([1.0, 2.0], period)


# --- RSI -------------------------------------------------------------------------------------------
def test_rsi_hand_checked_small_series():
    # closes 1 2 3 2 1 2 3 4, period 3. Changes +1 +1 -1 -1 +1 +1 +1 (from index 1).
    # index 3: avg gain (1+1+0)/3 = 2/3, avg loss (0+0+1)/3 = 1/3, RS 2        -> 100 - 100/3   = 66.67
    # index 4: gain (2/3*2+0)/3 = 4/9, loss (1/3*2+1)/3 = 5/9, RS 0.8            -> 100 - 100/1.8 = 44.44
    # index 5: gain (4/9*2+1)/3 = 17/27, loss (5/9*2)/3 = 10/27, RS 1.7          -> 100 - 100/2.7 = 62.96
    # index 6: gain (17/27*2+1)/3 = 61/81, loss 20/81, RS 3.05                   -> 100 - 100/4.05 = 75.31
    # index 7: gain (61/81*2+1)/3 = 203/243, loss 40/243, RS 5.075               -> 100 - 100/6.075 = 83.54
    got = rsi([1, 2, 3, 2, 1, 2, 3, 4], 3)
    assert np.isnan(got[:3]).all()
    expected = [100 - 100 / 3, 100 - 100 / 1.8, 100 - 100 / 2.7, 100 - 100 / 4.05, 100 - 100 / 6.075]
    assert got[3:].tolist() == pytest.approx(expected, rel=1e-12)


def test_rsi_extremes():
    assert rsi([1, 2, 3, 4, 5], 2)[2:].tolist() == [100.0, 100.0, 100.0]  # no losses
    assert rsi([5, 4, 3, 2, 1], 2)[2:].tolist() == [0.0, 0.0, 0.0]  # no gains
    assert rsi([7, 7, 7, 7], 2)[2:].tolist() == [50.0, 50.0]  # no move at all
    assert np.isnan(rsi([1.0, 2.0], 2)).all()  # the first RSI needs period changes


def test_rsi_matches_the_plain_loop_on_real_closes():
    closes = real_candles()[2]
    assert np.allclose(rsi(closes, 14), loop_rsi(closes, 14), rtol=1e-12, atol=1e-9, equal_nan=True)


def test_rsi_matches_pandas_with_wilders_seed():
    pd = pytest.importorskip("pandas")
    period = 14
    closes = pd.Series(real_candles()[2])
    change = closes.diff()

    def smoothed(part):
        # pandas' ewm(alpha=1/n, adjust=False) is Wilder's recursion; it starts from its first value, so
        # the first `period` values are blanked and the seed (their mean) put in their place.
        seeded = part.copy()
        seeded.iloc[: period + 1] = np.nan
        seeded.iloc[period] = part.iloc[1 : period + 1].mean()
        return seeded.ewm(alpha=1 / period, adjust=False).mean()

    gain, loss = smoothed(change.clip(lower=0)), smoothed(-change.clip(upper=0))
    expected = 100 - 100 / (1 + gain / loss)
    assert np.allclose(rsi(closes.to_numpy(), period), expected.to_numpy(), rtol=1e-9, equal_nan=True)


# --- ATR -------------------------------------------------------------------------------------------
HIGH = [10.0, 12.0, 13.0, 12.0, 15.0, 11.0]
LOW = [8.0, 9.0, 11.0, 10.0, 12.0, 9.0]
CLOSE = [9.0, 11.0, 12.0, 11.0, 14.0, 10.0]
# True ranges: bar 0 has no previous close: 10 - 8 = 2
#   bar 1: max(12-9, |12-9|, |9-9|)     = 3
#   bar 2: max(13-11, |13-11|, |11-11|) = 2
#   bar 3: max(12-10, |12-12|, |10-12|) = 2
#   bar 4: max(15-12, |15-11|, |12-11|) = 4   (gap up: the previous close counts)
#   bar 5: max(11-9, |11-14|, |9-14|)   = 5   (gap down)
# ATR(3): bar 2 = (2+3+2)/3 = 7/3; bar 3 = (7/3*2 + 2)/3 = 20/9; bar 4 = (20/9*2 + 4)/3 = 76/27;
#         bar 5 = (76/27*2 + 5)/3 = 287/81
ATR3 = [7 / 3, 20 / 9, 76 / 27, 287 / 81]


def test_atr_hand_checked():
    assert true_range(HIGH, LOW, CLOSE).tolist() == [2.0, 3.0, 2.0, 2.0, 4.0, 5.0]
    got = atr(HIGH, LOW, CLOSE, 3)
    assert np.isnan(got[:2]).all()
    assert got[2:].tolist() == pytest.approx(ATR3, rel=1e-12)


def test_atr_ratio_is_atr_over_the_close():
    got = atr_ratio(HIGH, LOW, CLOSE, 3)
    assert np.isnan(got[:2]).all()
    # 7/3 / 12 = 7/36; 20/9 / 11 = 20/99; 76/27 / 14 = 38/189; 287/81 / 10 = 287/810
    assert got[2:].tolist() == pytest.approx([7 / 36, 20 / 99, 38 / 189, 287 / 810], rel=1e-12)
    assert math.isnan(atr_ratio([2.0, 2.0], [1.0, 1.0], [1.0, 0.0], 1)[1])  # no ratio to a zero close


def test_atr_matches_the_plain_loop_and_pandas_on_real_candles():
    high, low, close = real_candles()
    got = atr(high, low, close, 14)
    ranges = [high[0] - low[0]] + [
        max(h - lo, abs(h - c), abs(lo - c)) for h, lo, c in zip(high[1:], low[1:], close[:-1], strict=True)
    ]
    assert np.allclose(got, loop_wilder(ranges, 14), rtol=1e-12, equal_nan=True)
    pd = pytest.importorskip("pandas")
    series = pd.Series(ranges)
    seeded = series.copy()
    seeded.iloc[:14] = np.nan
    seeded.iloc[13] = series.iloc[:14].mean()
    assert np.allclose(got, seeded.ewm(alpha=1 / 14, adjust=False).mean().to_numpy(), rtol=1e-9, equal_nan=True)


def test_atr_of_a_short_series_is_all_nan_and_a_bad_period_is_refused():
    assert np.isnan(atr([2.0], [1.0], [1.5], 3)).all()
    with pytest.raises(ValueError, match="ATR period"):
        atr(HIGH, LOW, CLOSE, 0)
