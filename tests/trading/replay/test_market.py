"""The replay's market: candles, ticker and book at each path point of a candle, as Upbit would answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from exchange.exceptions import InvalidRequest
from trading.replay.market import ReplayMarket
from trading.strategies.indicators import CandleArrays
from trading.strategies.market_model import one_level_book, path_offsets

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = 60
# (minute after T0, open, high, low, close, volume); minute 4 has no trade and no candle.
ROWS = [
    (0, 100_000_000, 100_500_000, 99_800_000, 100_200_000, 1.0),
    (1, 100_200_000, 100_900_000, 100_100_000, 100_800_000, 2.0),
    (2, 100_800_000, 101_000_000, 100_300_000, 100_400_000, 3.0),
    (3, 100_400_000, 100_600_000, 99_500_000, 99_900_000, 4.0),
    (5, 99_900_000, 100_100_000, 99_700_000, 100_000_000, 5.0),
    (6, 100_000_000, 100_300_000, 99_900_000, 100_250_000, 6.0),
]


def _arrays(rows=ROWS, unit_sec=MINUTE) -> CandleArrays:
    return CandleArrays.from_columns(
        start=[int(T0.timestamp()) + minute * unit_sec for minute, *_ in rows],
        open=[row[1] for row in rows],
        high=[row[2] for row in rows],
        low=[row[3] for row in rows],
        close=[row[4] for row in rows],
        volume=[row[5] for row in rows],
        unit_sec=unit_sec,
    )


@pytest.fixture
def market() -> ReplayMarket:
    return ReplayMarket(_arrays(), market="KRW-BTC")


def _ohlc(candle) -> tuple[int, int, int, int]:
    return int(candle.open), int(candle.high), int(candle.low), int(candle.close)


def test_the_clock_and_the_ticker_follow_the_path_open_low_high_close(market):
    offsets = path_offsets(MINUTE)
    expected = [100_800_000, 100_300_000, 101_000_000, 100_400_000]
    for point, price in enumerate(expected):
        market.advance_to(2, point)
        ticker = market.get_ticker("KRW-BTC")
        assert ticker.trade_price == Decimal(price)
        assert ticker.timestamp == T0 + timedelta(minutes=2, seconds=offsets[point]) == market.now()


def test_minute_candles_include_the_forming_candle_with_its_prices_so_far(market):
    forming = []
    for point in range(4):
        market.advance_to(2, point)
        candles = market.get_minute_candles("KRW-BTC", unit=1)
        assert [candle.start for candle in candles] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
        assert _ohlc(candles[0]) == (100_000_000, 100_500_000, 99_800_000, 100_200_000)
        forming.append(_ohlc(candles[-1]))
    assert forming == [
        (100_800_000, 100_800_000, 100_800_000, 100_800_000),  # open
        (100_800_000, 100_800_000, 100_300_000, 100_300_000),  # low
        (100_800_000, 101_000_000, 100_300_000, 101_000_000),  # high
        (100_800_000, 101_000_000, 100_300_000, 100_400_000),  # close
    ]


def test_to_is_exclusive_and_count_keeps_the_newest(market):
    market.advance_to(5, 3)
    starts = [candle.start for candle in market.get_minute_candles("KRW-BTC", unit=1, to=T0 + timedelta(minutes=3))]
    assert starts == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    inside = market.get_minute_candles("KRW-BTC", unit=1, to=T0 + timedelta(minutes=3, seconds=30))
    assert inside[-1].start == T0 + timedelta(minutes=3)
    assert _ohlc(inside[-1]) == (100_400_000, 100_600_000, 99_500_000, 99_900_000)  # closed by now: complete
    newest = market.get_minute_candles("KRW-BTC", unit=1, count=2)
    assert [candle.start for candle in newest] == [T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)]
    assert market.get_minute_candles("KRW-BTC", unit=1, to=T0) == []


def test_a_minute_without_a_candle_stays_a_gap(market):
    market.advance_to(4, 0)  # minute 5
    starts = [candle.start for candle in market.get_minute_candles("KRW-BTC", unit=1)]
    assert T0 + timedelta(minutes=4) not in starts
    assert len(starts) == 5


def test_the_future_is_never_served(market):
    market.advance_to(1, 0)
    later = market.get_minute_candles("KRW-BTC", unit=1, to=T0 + timedelta(hours=1))
    assert [candle.start for candle in later] == [T0, T0 + timedelta(minutes=1)]


def test_a_multiple_unit_is_aggregated_on_the_utc_grid_with_its_forming_part(market):
    market.advance_to(4, 1)  # minute 5, at its low
    candles = market.get_minute_candles("KRW-BTC", unit=3)
    assert [candle.start for candle in candles] == [T0, T0 + timedelta(minutes=3)]
    assert all(candle.unit == 3 for candle in candles)
    assert _ohlc(candles[0]) == (100_000_000, 101_000_000, 99_800_000, 100_400_000)
    assert candles[0].volume == Decimal("6.0")
    # minutes 3 (closed) and 5 (at its low point so far); minute 4 has no candle
    assert _ohlc(candles[1]) == (100_400_000, 100_600_000, 99_500_000, 99_700_000)


def test_day_candles_from_hours_and_no_minutes_from_hours():
    hourly = ReplayMarket(_arrays(unit_sec=3600), market="KRW-BTC")
    hourly.advance_to(5, 3)
    days = hourly.get_day_candles("KRW-BTC")
    assert [(day.unit, day.start) for day in days] == [(1440, T0)]
    assert _ohlc(days[0]) == (100_000_000, 101_000_000, 99_500_000, 100_250_000)
    assert hourly.get_minute_candles("KRW-BTC", unit=1) == []
    assert [c.start.hour for c in hourly.get_minute_candles("KRW-BTC", unit=240)] == [0, 4]


def test_the_book_is_the_one_level_book_at_the_current_price():
    off_grid = [(0, 100_000_400, 100_000_900, 100_000_100, 100_000_500, 1.0)]
    market = ReplayMarket(_arrays(off_grid), market="KRW-BTC")
    book = market.get_orderbook("KRW-BTC")
    assert book.levels == one_level_book(Decimal("100000400"))
    assert (book.best_ask, book.best_bid) == (Decimal("100001000"), Decimal("100000000"))
    assert book.timestamp == market.now()


def test_requests_upbit_refuses_are_refused(market):
    with pytest.raises(InvalidRequest):
        market.get_minute_candles("KRW-BTC", unit=1, count=201)
    with pytest.raises(InvalidRequest):
        market.get_minute_candles("KRW-BTC", unit=2)
    with pytest.raises(InvalidRequest):
        market.get_ticker("KRW-ETH")
    with pytest.raises(IndexError):
        market.advance_to(6, 0)
