"""The engine stores each closed candle it decides on, once, where the console's candle chart reads it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exchange.account import api_host
from trading.chart_models import EngineCandle
from trading.chart_selectors import ChartQuery, chart_cache_clear, chart_payload
from trading.engine.cycle import TradingEngine
from trading.models import Candle, EngineState, StrategyConfig

pytestmark = pytest.mark.django_db(transaction=True)


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sandbox(sandbox_factory):
    return sandbox_factory(clock=ManualClock(datetime(2026, 11, 30, 3, 0, 30, tzinfo=UTC)))


def test_closed_candles_are_stored_once_under_the_sandbox_never_in_the_market_history(live, sandbox):
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2}})
    EngineState.load()
    engine = TradingEngine(live, clock=sandbox.server.now)
    engine.run_cycle()
    stored = EngineCandle.objects.filter(source=api_host(sandbox.base_url), market="KRW-BTC", unit=1)
    first_count = stored.count()
    assert first_count >= 3  # what the strategy read: its closed candles

    engine.run_cycle()  # no new candle closed: nothing written again
    assert stored.count() == first_count
    for _ in range(3):
        sandbox.set_price("101000000")
        sandbox.advance(60)
        engine.run_cycle()

    assert stored.count() == first_count + 3
    assert Candle.objects.count() == 0
    newest = stored.order_by("-ts").first()
    chart_cache_clear()
    times = chart_payload(query=ChartQuery())["candles"]["time"]
    assert times[-1] == int(newest.ts.timestamp())
    assert len(times) == stored.count()


def test_an_engine_told_not_to_store_candles_stores_none(live, sandbox):
    """A replay's candles are the stored ones already: it runs the engine with store_candles=False."""
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2}})
    EngineState.load()
    engine = TradingEngine(live, clock=sandbox.server.now, store_candles=False)
    sandbox.advance(60)
    engine.run_cycle()
    assert EngineCandle.objects.count() == 0
    assert Candle.objects.count() == 0
