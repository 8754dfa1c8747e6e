"""The columnar copy of the stored candles: the same floats as the table, never a stale or foreign copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.factories import CandleFactory
from tests.trading.test_candles import NOW, replay  # noqa: F401 - a fixture: the sandbox replaying real minutes
from trading.candle_cache import cache_dir
from trading.candle_files import candles_import
from trading.candles import candle_arrays, candles_store
from trading.strategies.indicators import CandleArrays

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "upbit-krw-btc-60m-excerpt.csv"
START = datetime(2024, 12, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
COLUMNS = ("start", "open", "high", "low", "close", "volume")


@pytest.fixture
def copy_dir(settings, tmp_path):
    settings.CANDLE_CACHE_DIR = tmp_path / "candle-cache"
    return settings.CANDLE_CACHE_DIR


def _from_table(settings, *, start=START, end=END) -> CandleArrays:
    kept, settings.CANDLE_CACHE_DIR = settings.CANDLE_CACHE_DIR, None
    try:
        return candle_arrays(market="KRW-BTC", unit=60, start=start, end=end)
    finally:
        settings.CANDLE_CACHE_DIR = kept


def _same(a: CandleArrays, b: CandleArrays) -> bool:
    return len(a) == len(b) and all(np.array_equal(getattr(a, name), getattr(b, name)) for name in COLUMNS)


def _copies() -> list[Path]:
    directory = cache_dir()
    assert directory is not None
    return sorted(directory.glob("*.npy")) if directory.is_dir() else []


def test_a_range_read_through_the_copy_is_the_tables_floats_exactly(settings, copy_dir):
    candles_import(path=FIXTURE, market="KRW-BTC")
    odd_start, odd_end = START + timedelta(days=3, minutes=30), END - timedelta(days=9, seconds=1)

    first = candle_arrays(market="KRW-BTC", unit=60, start=odd_start, end=odd_end)
    assert len(_copies()) == 1  # the first read keeps a copy of every stored candle
    second = candle_arrays(market="KRW-BTC", unit=60, start=odd_start, end=odd_end)

    table = _from_table(settings, start=odd_start, end=odd_end)
    assert len(table) > 2000
    assert _same(first, table)
    assert _same(second, table)
    assert first.start[0] >= odd_start.timestamp()
    assert first.start[-1] < odd_end.timestamp()


def test_candles_stored_later_are_in_the_next_read(settings, copy_dir):
    candles_import(path=FIXTURE, market="KRW-BTC")
    before = candle_arrays(market="KRW-BTC", unit=60, start=START, end=END + timedelta(days=400))
    old = _copies()
    last = datetime.fromtimestamp(int(before.start[-1]), tz=UTC)
    newer = last + timedelta(hours=1)
    price = Decimal("150000000")

    assert candles_store(market="KRW-BTC", unit=60, rows=[(newer, price, price, price, price, Decimal(1), price)]) == 1
    assert not any(path.exists() for path in old)  # storing drops the copy at once

    after = candle_arrays(market="KRW-BTC", unit=60, start=START, end=END + timedelta(days=400))
    assert len(after) == len(before) + 1
    assert after.start[-1] == int(newer.timestamp())
    assert after.close[-1] == 150_000_000.0
    assert _same(after, _from_table(settings, end=END + timedelta(days=400)))


def test_a_candle_written_past_the_store_makes_the_copy_stale_and_unused(settings, copy_dir):
    candles_import(path=FIXTURE, market="KRW-BTC")
    candle_arrays(market="KRW-BTC", unit=60, start=START, end=END)
    gap_filler = datetime(2023, 1, 1, tzinfo=UTC)  # before the first stored candle: changes the count and first start
    CandleFactory(market="KRW-BTC", unit=60, ts=gap_filler)

    read = candle_arrays(market="KRW-BTC", unit=60, start=gap_filler, end=END)

    assert read.start[0] == int(gap_filler.timestamp())
    assert read.close[0] == 100_050_000.0
    assert _same(read, _from_table(settings, start=gap_filler))
    assert len(_copies()) == 1  # the stale copy was replaced, not kept beside the new one


def test_an_unreadable_copy_costs_only_speed(settings, copy_dir):
    candles_import(path=FIXTURE, market="KRW-BTC")
    candle_arrays(market="KRW-BTC", unit=60, start=START, end=END)
    (copy,) = _copies()
    copy.write_bytes(b"not an array")

    read = candle_arrays(market="KRW-BTC", unit=60, start=START, end=END)

    assert _same(read, _from_table(settings))


def test_another_market_or_unit_has_its_own_copy(settings, copy_dir):
    candles_import(path=FIXTURE, market="KRW-BTC")
    candles_import(path=FIXTURE, market="KRW-ETH")
    price = Decimal("5000000")
    earlier = datetime(2024, 11, 1, tzinfo=UTC)  # before the file's first candle
    assert candles_store(market="KRW-ETH", unit=60, rows=[(earlier, price, price, price, price, Decimal(1), price)]) == 1

    btc = candle_arrays(market="KRW-BTC", unit=60, start=earlier, end=END)
    eth = candle_arrays(market="KRW-ETH", unit=60, start=earlier, end=END)

    assert len(_copies()) == 2
    assert len(eth) == len(btc) + 1
    assert eth.close[0] == 5_000_000.0
    assert np.array_equal(eth.close[1:], btc.close)


def test_without_a_folder_no_copy_is_kept(settings, tmp_path):
    settings.CANDLE_CACHE_DIR = None
    candles_import(path=FIXTURE, market="KRW-BTC")

    read = candle_arrays(market="KRW-BTC", unit=60, start=START, end=END)

    assert len(read) > 2000
    assert cache_dir() is None
    assert not list(tmp_path.rglob("*.npy"))


def test_an_import_keeps_a_fresh_copy_once_committed(settings, copy_dir, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        candles_import(path=FIXTURE, market="KRW-BTC")

    (copy,) = _copies()
    held = np.load(copy)
    assert held.shape == (6, 2900)
    assert _same(candle_arrays(market="KRW-BTC", unit=60, start=START, end=END), _from_table(settings))
    assert _copies() == [copy]


def test_a_fetch_keeps_a_fresh_copy_once_committed(settings, copy_dir, replay, django_capture_on_commit_callbacks):  # noqa: F811 - the imported fixture, asked for by name
    from exchange.upbit import UpbitClient
    from trading.candles import candles_fetch

    handle, minutes, _opens, _cut = replay
    with django_capture_on_commit_callbacks(execute=True):
        result = candles_fetch(source=UpbitClient(handle.base_url), market="KRW-BTC", unit=1, start=minutes[0], end=NOW, now=NOW)

    (copy,) = _copies()
    assert np.load(copy).shape == (6, result.inserted)
    read = candle_arrays(market="KRW-BTC", unit=1, start=minutes[0], end=NOW)
    kept, settings.CANDLE_CACHE_DIR = settings.CANDLE_CACHE_DIR, None
    assert _same(read, candle_arrays(market="KRW-BTC", unit=1, start=minutes[0], end=NOW))
    settings.CANDLE_CACHE_DIR = kept
