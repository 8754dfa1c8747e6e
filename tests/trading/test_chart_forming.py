"""The candle still forming on the chart: published by the engine with its counters, carried to its last price,
sent apart from the closed candles, and dropped once closed or when the engine stopped cycling."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.chart_data import START, epoch, price_path, store
from trading.chart_selectors import FORMING_KEY, FORMING_STALE_SEC, ChartQuery, chart_cache_clear, chart_payload
from trading.models import Candle, EngineState

pytestmark = pytest.mark.django_db

STORED = 30
FORMING_START = START + timedelta(minutes=STORED)
"""The candle after the last stored one."""


@pytest.fixture(autouse=True)
def _chart_settings(settings):
    settings.TRADING_MARKET = "KRW-BTC"
    settings.STRATEGY = "sma_cross"
    settings.UPBIT_API_BASE = "https://api.upbit.com"
    chart_cache_clear()
    store(price_path(STORED))
    yield
    chart_cache_clear()


def _engine_wrote(*, forming: dict | None, last_price: str | None = None, cycle_seconds: float = 20, **extra) -> None:
    """What the engine leaves behind: its counters (with the forming candle) and its last cycle."""
    metrics = {"cycles_total": 9, **extra}
    if forming is not None:
        metrics[FORMING_KEY] = forming
    state = EngineState.load()
    state.metrics = metrics
    state.last_price = Decimal(last_price) if last_price else None
    state.last_cycle_at = FORMING_START + timedelta(seconds=cycle_seconds)
    state.save()


def _forming(**changes) -> dict:
    published = {
        "market": "KRW-BTC",
        "unit": 1,
        "start": epoch(FORMING_START),
        "open": "100000000",
        "high": "100300000",
        "low": "99900000",
        "close": "100100000",
        "at": epoch(FORMING_START) + 18,
    }
    return {**published, **changes}


def _payload(*, after: int | None = None, seconds: float = 25) -> dict:
    return chart_payload(query=ChartQuery(after=after), now=FORMING_START + timedelta(seconds=seconds))


def test_the_forming_candle_comes_apart_from_the_closed_ones_and_closes_at_the_engines_last_price():
    _engine_wrote(forming=_forming(), last_price="100450000")

    payload = _payload()

    assert len(payload["candles"]["time"]) == STORED  # the closed candles only
    assert payload["candles"]["time"][-1] < payload["forming"]["time"]
    # The last price (a cycle newer than the counters) is its close and raises its high.
    assert payload["forming"] == {
        "time": epoch(FORMING_START),
        "open": 100000000.0,
        "high": 100450000.0,
        "low": 99900000.0,
        "close": 100450000.0,
    }


def test_a_lower_last_price_lowers_the_forming_candles_low():
    _engine_wrote(forming=_forming(), last_price="99800000")
    assert _payload()["forming"]["low"] == 99800000.0
    assert _payload()["forming"]["close"] == 99800000.0


def test_a_last_price_from_the_next_candle_is_not_folded_into_this_one():
    """The counters lag a cycle behind: a last cycle past this candle's end belongs to the next candle."""
    _engine_wrote(forming=_forming(), last_price="120000000", cycle_seconds=61)
    forming = _payload(seconds=62)["forming"]
    assert forming["close"] == 100100000.0
    assert forming["high"] == 100300000.0


def test_a_live_poll_with_nothing_new_still_carries_the_forming_candle():
    _engine_wrote(forming=_forming(), last_price="100200000")
    newest = epoch(START + timedelta(minutes=STORED - 1))

    poll = _payload(after=newest)

    assert poll["candles"]["time"] == []
    assert poll["forming"]["close"] == 100200000.0


def test_once_its_candle_is_stored_the_forming_candle_is_gone():
    _engine_wrote(forming=_forming(), last_price="100200000")
    store(price_path(1, start=FORMING_START))
    chart_cache_clear()

    payload = _payload()

    assert payload["candles"]["time"][-1] == epoch(FORMING_START)
    assert payload["forming"] is None


def test_no_forming_candle_when_the_engine_stopped_cycling():
    _engine_wrote(forming=_forming(), last_price="100200000")
    assert _payload(seconds=20 + FORMING_STALE_SEC - 1)["forming"] is not None
    assert _payload(seconds=20 + FORMING_STALE_SEC + 1)["forming"] is None


@pytest.mark.parametrize(
    "published",
    [
        None,
        _forming(market="KRW-ETH"),  # another market
        _forming(unit=5),  # another candle unit than the strategy's
        _forming(start="soon"),
        _forming(open="NaN"),
        _forming(high=None),
        "not an object",
    ],
)
def test_a_missing_or_unusable_forming_candle_is_left_out(published):
    _engine_wrote(forming=published, last_price="100200000")
    payload = _payload()
    assert payload["forming"] is None
    assert len(payload["candles"]["time"]) == STORED


def test_an_older_page_has_no_forming_candle():
    _engine_wrote(forming=_forming(), last_price="100200000")
    older = chart_payload(query=ChartQuery(before=epoch(START + timedelta(minutes=10))), now=FORMING_START)
    assert older["forming"] is None


def test_with_no_candle_stored_yet_the_forming_candle_alone_is_drawn():
    Candle.objects.all().delete()  # Upbit's candles are the market history
    chart_cache_clear()
    _engine_wrote(forming=_forming(), last_price="100200000")
    payload = _payload()
    assert payload["candles"]["time"] == []
    assert payload["forming"]["time"] == epoch(FORMING_START)


def test_the_key_is_the_one_the_engine_publishes():
    from trading.engine.forming import METRIC_KEY

    assert FORMING_KEY == METRIC_KEY
