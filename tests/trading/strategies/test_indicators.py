from __future__ import annotations

import csv
import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from exchange.types import Candle
from trading.strategies.indicators import (
    CandleArrays,
    candle_range,
    crossed_above,
    crossed_below,
    ema,
    infer_unit_sec,
    macd,
    sma,
    to_float_array,
    true_range,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def loop_ema(values: list[float], period: int) -> list[float]:
    """The textbook recursion, written out: y0 = x0, y = y + alpha * (x - y)."""
    alpha = 2 / (period + 1)
    out = [values[0]]
    for x in values[1:]:
        out.append(out[-1] + alpha * (x - out[-1]))
    return out


def loop_sma(values: list[float], period: int) -> list[float]:
    return [math.nan if i + 1 < period else sum(values[i + 1 - period : i + 1]) / period for i in range(len(values))]


def real_closes() -> list[float]:
    with (FIXTURES / "upbit-krw-btc-60m-excerpt.csv").open() as handle:
        return [float(row["close"]) for row in csv.DictReader(handle)]


# --- EMA -------------------------------------------------------------------------------------------
def test_ema_hand_checked_values():
    # alpha = 2 / (3 + 1) = 0.5: 1, (1+2)/2, (1.5+3)/2, (2.25+4)/2, (3.125+5)/2
    assert ema([1, 2, 3, 4, 5], 3).tolist() == [1.0, 1.5, 2.25, 3.125, 4.0625]


def test_ema_is_seeded_from_the_first_value():
    assert ema([100.0, 100.0, 100.0], 26).tolist() == [100.0, 100.0, 100.0]
    assert ema([7.0], 12).tolist() == [7.0]
    assert ema([], 12).shape == (0,)


@pytest.mark.parametrize("period", [2, 3, 9, 12, 26, 200])
def test_ema_matches_the_plain_loop_on_a_long_random_series(period):
    rng = random.Random(period)
    price = 50_000_000.0
    values = []
    for _ in range(20_000):  # several blocks of the vectorised evaluation for every period
        price *= math.exp(rng.gauss(0, 0.002))
        values.append(price)
    expected = loop_ema(values, period)
    got = ema(values, period)
    assert np.allclose(got, expected, rtol=1e-10, atol=1e-6)


def test_ema_matches_the_loop_on_a_series_that_changes_sign():
    rng = random.Random(1)
    values = [rng.uniform(-5000, 5000) for _ in range(5000)]
    assert np.allclose(ema(values, 9), loop_ema(values, 9), rtol=0, atol=1e-8)


def test_ema_matches_the_loop_on_real_upbit_closes():
    closes = real_closes()
    assert np.allclose(ema(closes, 26), loop_ema(closes, 26), rtol=1e-12)


def test_ema_matches_pandas_ewm_adjust_false():
    pd = pytest.importorskip("pandas")
    closes = real_closes()
    expected = pd.Series(closes).ewm(span=12, adjust=False).mean().to_numpy()
    assert np.allclose(ema(closes, 12), expected, rtol=1e-12)


def test_ema_period_one_is_the_input():
    assert ema([3.0, 1.0, 2.0], 1).tolist() == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("period", [0, -3, 2.5, True, "12"])
def test_ema_rejects_a_bad_period(period):
    with pytest.raises(ValueError, match="EMA period"):
        ema([1.0, 2.0], period)


# --- SMA -------------------------------------------------------------------------------------------
def test_sma_hand_checked_values():
    got = sma([1, 2, 3, 4, 5], 2)
    assert math.isnan(got[0])
    assert got[1:].tolist() == [1.5, 2.5, 3.5, 4.5]


def test_sma_matches_the_loop_and_pandas_on_real_closes():
    closes = real_closes()
    got = sma(closes, 20)
    expected = loop_sma(closes, 20)
    assert np.allclose(got, expected, rtol=1e-12, equal_nan=True)
    pd = pytest.importorskip("pandas")
    assert np.allclose(got, pd.Series(closes).rolling(20).mean().to_numpy(), rtol=1e-12, equal_nan=True)


def test_sma_shorter_series_than_the_period_is_all_nan():
    assert np.isnan(sma([1.0, 2.0], 5)).all()


# --- MACD ------------------------------------------------------------------------------------------
def test_macd_is_the_difference_of_the_emas_and_its_signal():
    closes = real_closes()[:500]
    result = macd(closes, 12, 26, 9)
    line = [a - b for a, b in zip(loop_ema(closes, 12), loop_ema(closes, 26), strict=True)]
    signal = loop_ema(line, 9)
    assert np.allclose(result.line, line, rtol=1e-9, atol=1e-6)
    assert np.allclose(result.signal, signal, rtol=1e-9, atol=1e-6)
    assert np.allclose(result.histogram, np.array(line) - np.array(signal), rtol=1e-9, atol=1e-6)


def test_macd_hand_checked_small_series():
    # fast 1 (the close itself), slow 3 (alpha 0.5), signal 1: line = close - EMA3(close)
    result = macd([4.0, 8.0, 8.0], 1, 3, 1)
    assert result.line.tolist() == [0.0, 2.0, 1.0]  # EMA3: 4, 6, 7
    assert result.histogram.tolist() == [0.0, 0.0, 0.0]


def test_macd_matches_pandas():
    pd = pytest.importorskip("pandas")
    closes = pd.Series(real_closes())
    line = closes.ewm(span=12, adjust=False).mean() - closes.ewm(span=26, adjust=False).mean()
    signal = line.ewm(span=9, adjust=False).mean()
    result = macd(closes.to_numpy(), 12, 26, 9)
    assert np.allclose(result.line, line.to_numpy(), rtol=1e-9, atol=1e-6)
    assert np.allclose(result.signal, signal.to_numpy(), rtol=1e-9, atol=1e-6)


# --- ranges and crosses ----------------------------------------------------------------------------
def test_true_range_uses_the_previous_close():
    high = [10.0, 12.0, 9.0]
    low = [8.0, 11.0, 7.0]
    close = [9.0, 11.5, 8.0]
    # bar 1: max(1, |12-9|, |11-9|) = 3; bar 2: max(2, |9-11.5|, |7-11.5|) = 4.5
    assert true_range(high, low, close).tolist() == [2.0, 3.0, 4.5]
    assert candle_range(high, low).tolist() == [2.0, 1.0, 2.0]


def test_crosses_are_detected_once_at_the_crossing_candle():
    a = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0])
    b = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    assert np.flatnonzero(crossed_above(a, b)).tolist() == [2]  # 2 <= 2 then 3 > 2
    assert np.flatnonzero(crossed_below(a, b)).tolist() == [5]  # 2 >= 2 then 1 < 2
    with_nan = np.array([math.nan, 3.0, 1.0])
    assert not crossed_above(with_nan, np.array([2.0, 2.0, 2.0])).any()


# --- the Decimal boundary --------------------------------------------------------------------------
def test_candle_arrays_from_decimal_candles():
    t0 = datetime(2024, 12, 3, 14, 0, tzinfo=UTC)
    candles = [
        Candle(
            market="KRW-BTC",
            unit=60,
            start=t0 + timedelta(hours=i),
            open=Decimal("95123456.5") + i,
            high=Decimal("95200000") + i,
            low=Decimal("88266000") + i,
            close=Decimal("95000000.25") + i,
            volume=Decimal("1.23456789"),
        )
        for i in range(3)
    ]
    arrays = CandleArrays.from_candles(candles)
    assert len(arrays) == 3
    assert arrays.unit_sec == 3600
    assert arrays.open.tolist() == [95123456.5, 95123457.5, 95123458.5]
    assert arrays.close[0] == 95000000.25
    assert arrays.start.tolist() == [int((t0 + timedelta(hours=i)).timestamp()) for i in range(3)]
    assert arrays.open.dtype == np.float64
    assert arrays.start.dtype == np.int64


def test_candle_arrays_reject_ragged_and_unordered_columns():
    with pytest.raises(ValueError, match="'high' has 1 values; expected 2"):
        CandleArrays.from_columns(open=[1, 2], high=[1], low=[1, 2], close=[1, 2], start=[0, 60])
    with pytest.raises(ValueError, match="strictly increasing"):
        CandleArrays.from_columns(open=[1, 2], high=[1, 2], low=[1, 2], close=[1, 2], start=[60, 60])


def test_unit_is_the_most_common_spacing_despite_a_gap():
    assert infer_unit_sec(np.array([0, 60, 120, 240, 300], dtype=np.int64)) == 60
    assert infer_unit_sec(np.array([0], dtype=np.int64)) == 60


def test_to_float_array_keeps_krw_prices_exact():
    assert to_float_array([Decimal("163456000"), Decimal("0.00012345")]).tolist() == [163456000.0, 0.00012345]
