"""The candle chart's data: the running strategy's unit and indicators (its own code), paging, live polls, sources."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from tests.chart_data import START, epoch, price_path, store
from tests.factories import StrategyConfigFactory
from trading.chart_candles import engine_candles_store
from trading.chart_models import EngineCandle
from trading.chart_selectors import (
    ENGINE_MAX_CANDLES,
    INDICATOR_HISTORY,
    ChartQuery,
    chart_cache_clear,
    chart_payload,
    warmup_candles,
)
from trading.models import Candle
from trading.strategies.indicators import CandleArrays
from trading.strategies.registry import get_strategy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _chart_settings(settings):
    settings.TRADING_MARKET = "KRW-BTC"
    settings.STRATEGY = "macd"
    settings.UPBIT_API_BASE = "https://api.upbit.com"
    chart_cache_clear()
    yield
    chart_cache_clear()


def _own_computation(strategy_name: str, params: dict, candles) -> dict[str, list[float | None]]:
    """The strategy's own indicators over the same candles, as the engine's `prepare` computes them."""
    strategy = get_strategy(strategy_name)
    prepared = strategy.prepare(CandleArrays.from_candles(candles), strategy.validate(params))
    return {name: [None if not math.isfinite(v) else v for v in values.tolist()] for name, values in prepared.series.items()}


def _series(payload) -> dict[str, list]:
    return {entry["key"]: entry["values"] for entry in payload["series"]}


def test_engine_constants_are_the_engines_own():
    from trading.engine.candles import MAX_CANDLES
    from trading.engine.decisions import INDICATOR_HISTORY as ENGINE_HISTORY

    assert INDICATOR_HISTORY == ENGINE_HISTORY
    assert ENGINE_MAX_CANDLES == MAX_CANDLES


def test_macd_lines_equal_the_strategys_own_computation_over_the_same_candles():
    candles = price_path(1500)
    store(candles)
    StrategyConfigFactory(strategy="macd", params={"fast": 8, "slow": 21, "signal": 5})

    payload = chart_payload(query=ChartQuery())

    assert (payload["market"], payload["unit"], payload["strategy"]) == ("KRW-BTC", 1, "macd")
    assert payload["candles"]["time"] == [epoch(c.start) for c in candles[-1000:]]
    assert payload["candles"]["close"] == [float(c.close) for c in candles[-1000:]]
    # The page's warm-up reaches back to the first stored candle, so the strategy over all of them is the reference.
    own = _own_computation("macd", {"fast": 8, "slow": 21, "signal": 5}, candles)
    drawn = _series(payload)
    assert set(drawn) == {"macd", "signal", "histogram"}
    for name in ("macd", "signal", "histogram"):
        assert drawn[name] == own[name][-1000:]
    panes = {entry["key"]: (entry["pane"], entry["type"]) for entry in payload["series"]}
    assert panes == {"macd": (1, "line"), "signal": (1, "line"), "histogram": (1, "histogram")}
    assert payload["has_more"] is True  # 500 older candles are stored


def test_sma_lines_are_null_during_their_warm_up_and_the_strategys_values_after(settings):
    settings.STRATEGY = "sma_cross"
    candles = price_path(30)
    store(candles)
    StrategyConfigFactory(strategy="sma_cross", params={"fast": 3, "slow": 10})

    payload = chart_payload(query=ChartQuery())

    drawn = _series(payload)
    own = _own_computation("sma_cross", {"fast": 3, "slow": 10}, candles)
    assert drawn["sma_slow"][:9] == [None] * 9
    assert drawn["sma_slow"] == own["sma_slow"]
    assert drawn["sma_fast"] == own["sma_fast"]
    assert {entry["pane"] for entry in payload["series"]} == {0}
    assert payload["has_more"] is False


def test_rsi_pane_carries_the_oversold_and_overbought_guides(settings):
    settings.STRATEGY = "momentum"
    candles = price_path(400, unit=60)
    store(candles)
    StrategyConfigFactory(strategy="momentum", params={"rsi_period": 14, "oversold": "25", "overbought": "75"})

    payload = chart_payload(query=ChartQuery())

    assert payload["unit"] == 60  # the strategy's default candle unit, as the engine picks it
    own = _own_computation("momentum", {"rsi_period": 14, "oversold": "25", "overbought": "75"}, candles)
    assert _series(payload)["rsi"] == own["rsi"]
    assert [(g["series"], g["price"]) for g in payload["guides"]] == [("rsi", 25.0), ("rsi", 75.0)]


def test_breakout_level_is_the_strategys_target(settings):
    settings.STRATEGY = "volatility_breakout"
    candles = price_path(24 * 5, unit=60)
    store(candles)

    payload = chart_payload(query=ChartQuery())

    own = _own_computation("volatility_breakout", {}, candles)
    assert _series(payload)["target"] == own["target"]
    assert _series(payload)["target"][:24] == [None] * 24  # the first day has no complete day before it
    assert any(value is not None for value in _series(payload)["target"])


def test_the_strategys_candle_unit_decides_which_candles_are_read():
    store(price_path(50, unit=1))
    store(price_path(40, unit=5))
    StrategyConfigFactory(strategy="macd", params={"candle_unit": 5})

    payload = chart_payload(query=ChartQuery())

    assert payload["unit"] == 5
    assert len(payload["candles"]["time"]) == 40
    assert payload["candles"]["time"][1] - payload["candles"]["time"][0] == 300


def test_scrolling_back_pages_through_older_candles_without_gaps_or_overlap():
    candles = price_path(2500)
    store(candles)
    newest = chart_payload(query=ChartQuery(limit=1000))
    older = chart_payload(query=ChartQuery(before=newest["candles"]["time"][0], limit=1000))
    oldest = chart_payload(query=ChartQuery(before=older["candles"]["time"][0], limit=1000))

    times = oldest["candles"]["time"] + older["candles"]["time"] + newest["candles"]["time"]
    assert times == [epoch(c.start) for c in candles]
    assert len(oldest["candles"]["time"]) == 500
    assert oldest["has_more"] is False
    assert older["has_more"] is True
    assert older["levels"] is None  # the exits' levels belong to the newest page only
    # An older page's indicators are the strategy's over what is stored up to it.
    own = _own_computation("macd", {}, candles[:1500])
    assert _series(older)["macd"] == own["macd"][-1000:]


def test_a_live_poll_returns_only_candles_stored_since_and_nothing_when_none_are():
    candles = price_path(300)
    store(candles[:298])
    first = chart_payload(query=ChartQuery())
    last_time = first["candles"]["time"][-1]

    assert chart_payload(query=ChartQuery(after=last_time))["candles"]["time"] == []

    store(candles[298:])
    poll = chart_payload(query=ChartQuery(after=last_time))
    assert poll["candles"]["time"] == [epoch(candles[298].start), epoch(candles[299].start)]
    own = _own_computation("macd", {}, candles)
    assert _series(poll)["macd"] == own["macd"][-2:]


def test_sandbox_candles_are_kept_apart_from_the_market_history(settings):
    candles = price_path(60)
    engine_candles_store(source="127.0.0.1:8765", market="KRW-BTC", unit=1, candles=candles)
    engine_candles_store(source="127.0.0.1:8765", market="KRW-BTC", unit=1, candles=candles[-5:])  # stored once

    assert Candle.objects.count() == 0
    assert EngineCandle.objects.filter(source="127.0.0.1:8765").count() == 60
    assert chart_payload(query=ChartQuery())["candles"]["time"] == []  # the engine on Upbit sees no sandbox candles

    settings.UPBIT_API_BASE = "http://127.0.0.1:8765"
    chart_cache_clear()
    assert len(chart_payload(query=ChartQuery())["candles"]["time"]) == 60


def test_warm_up_follows_the_engines_rule():
    macd = get_strategy("macd")
    assert warmup_candles(macd, macd.validate({}), 1) == INDICATOR_HISTORY
    sma = get_strategy("sma_cross")
    assert warmup_candles(sma, sma.validate({"fast": 3, "slow": 10}), 1) == 11
    breakout = get_strategy("volatility_breakout")
    assert warmup_candles(breakout, breakout.validate({}), 60) == 48


def test_decimal_prices_reach_the_chart_as_numbers():
    store(price_path(3, start=START + timedelta(days=1)))
    payload = chart_payload(query=ChartQuery())
    assert payload["candles"]["close"] == [float(c.close) for c in price_path(3, start=START + timedelta(days=1))]
    assert all(isinstance(value, float) for value in payload["candles"]["close"])


def test_a_new_candle_slides_the_newest_page_as_a_fresh_read_would():
    candles = price_path(2600)
    store(candles[:2590])
    before = chart_payload(query=ChartQuery())
    store(candles[2590:])

    slid = chart_payload(query=ChartQuery())  # the block read before, with the ten new candles appended
    chart_cache_clear()
    fresh = chart_payload(query=ChartQuery())

    assert slid == fresh
    assert slid["candles"]["time"][-1] == epoch(candles[-1].start)
    assert slid["candles"]["time"][0] == before["candles"]["time"][10]


def test_history_imported_before_the_oldest_candle_is_seen_on_the_next_request():
    candles = price_path(1200)
    store(candles[600:])
    assert chart_payload(query=ChartQuery())["has_more"] is False
    store(candles[:600])
    assert chart_payload(query=ChartQuery())["has_more"] is True
