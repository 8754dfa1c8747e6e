"""The engine's forming candle: built from each cycle's price and the exchange's newest candle, published with the
counters (no query of its own), and drawn by the chart after the closed candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trading.chart_selectors import ChartQuery, chart_cache_clear, chart_payload
from trading.engine.cycle import TradingEngine
from trading.engine.forming import METRIC_KEY
from trading.models import EngineState, StrategyConfig

pytestmark = pytest.mark.django_db(transaction=True)


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sandbox(sandbox_factory):
    return sandbox_factory(clock=ManualClock(datetime(2026, 11, 30, 3, 0, 30, tzinfo=UTC)))


@pytest.fixture
def engine(live, sandbox):
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2}})
    EngineState.load()
    return TradingEngine(live, clock=sandbox.server.now)


def _forming(engine: TradingEngine) -> dict:
    return engine.metrics.snapshot()[METRIC_KEY]


def test_the_forming_candle_follows_each_cycles_price_and_starts_over_at_the_boundary(engine, sandbox):
    engine.run_cycle()
    first = _forming(engine)
    minute = int(datetime(2026, 11, 30, 3, 0, tzinfo=UTC).timestamp())
    assert (first["market"], first["unit"], first["start"]) == ("KRW-BTC", 1, minute)
    read = engine.decisions.candles.newest_read(1)
    assert read is not None
    assert int(read.start.timestamp()) == minute  # the exchange's forming candle
    assert Decimal(first["open"]) == read.open  # its open, the period's first trade, not the engine's first price

    sandbox.set_price("101500000")
    sandbox.advance(10)
    engine.run_cycle()
    risen = _forming(engine)
    assert Decimal(risen["close"]) == Decimal("101500000")
    assert Decimal(risen["high"]) >= Decimal("101500000")

    sandbox.set_price("99500000")
    sandbox.advance(10)
    engine.run_cycle()
    fallen = _forming(engine)
    assert Decimal(fallen["close"]) == Decimal("99500000")
    assert Decimal(fallen["low"]) <= Decimal("99500000")
    assert Decimal(fallen["high"]) == Decimal(risen["high"])  # the high of the period is kept
    assert fallen["open"] == first["open"]

    sandbox.advance(60)
    engine.run_cycle()
    nxt = _forming(engine)
    assert nxt["start"] == minute + 60


def test_the_chart_draws_the_published_forming_candle_after_the_closed_ones(engine, sandbox, settings):
    engine.run_cycle()
    sandbox.set_price("102000000")
    sandbox.advance(15)
    engine.run_cycle()
    # The runner's heartbeat writes the counters; the cycle itself wrote the last price and time.
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(metrics=engine.metrics.snapshot())
    chart_cache_clear()

    state = EngineState.load()
    payload = chart_payload(query=ChartQuery(), now=state.last_cycle_at + timedelta(seconds=1))

    published = _forming(engine)
    assert payload["forming"]["time"] == published["start"]
    assert payload["forming"]["time"] > payload["candles"]["time"][-1]
    assert payload["forming"]["close"] == float(state.last_price) == 102000000.0


def test_a_hold_cycle_runs_no_more_queries_for_the_forming_candle(engine, sandbox, monkeypatch):
    engine.run_cycle()
    sandbox.advance(5)
    engine.run_cycle()  # warm: the steady HOLD cycle from here on
    sandbox.advance(5)
    with CaptureQueriesContext(connection) as tracked:
        engine.run_cycle()
    monkeypatch.setattr(engine.forming, "observe", lambda **kwargs: engine.forming.candle)
    sandbox.advance(5)
    with CaptureQueriesContext(connection) as untracked:
        engine.run_cycle()
    assert len(tracked.captured_queries) == len(untracked.captured_queries)
