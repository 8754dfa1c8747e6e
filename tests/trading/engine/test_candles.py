"""Closed candles past Upbit's 200-candle limit, the entry time and the trailing-stop peak after a restart,
against the sandbox over real HTTP (with its clock, so candles close when the test says)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.factories import ManualOrderRequestFactory
from trading.engine.candles import MAX_CANDLES, PAGE, CandleCache
from trading.engine.cycle import TradingEngine
from trading.models import DecisionState, EngineEvent, EngineState, Fill, Order, Signal, StrategyConfig
from trading.strategies.market_model import CANDLE_CLOSE_MARGIN_SEC

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(frozen_sandbox):
    return frozen_sandbox


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def assert_contiguous_and_closed(candles, unit: int, now) -> None:
    step = timedelta(minutes=unit)
    assert all(later.start - earlier.start == step for earlier, later in itertools.pairwise(candles))
    assert candles[-1].start + step <= now < candles[-1].start + 2 * step  # the newest closed candle, not the forming one


def test_more_than_one_page_is_read_backwards_then_only_the_newest_page(live, sandbox):
    cache = CandleCache(live, "KRW-BTC", sandbox.server.now)
    need = 2880  # volatility breakout on 1-minute candles: two days

    cold = cache.closed(1, need)

    assert len(cold.candles) == need
    assert cold.requests == (need + 1 + PAGE - 1) // PAGE
    assert_contiguous_and_closed(cold.candles, 1, sandbox.server.now())

    warm = cache.closed(1, need)
    next_close = cold.candles[-1].start + timedelta(minutes=2, seconds=CANDLE_CLOSE_MARGIN_SEC)
    if sandbox.server.now() < next_close:
        # No candle can have closed since: the cache answers without asking the exchange.
        assert warm.requests == 0
        assert warm.candles == cold.candles
    else:
        assert warm.requests == 1

    sandbox.advance(600)
    later = cache.closed(1, need)
    assert later.requests == 1
    assert len(later.candles) == need
    assert_contiguous_and_closed(later.candles, 1, sandbox.server.now())
    assert later.candles[-11].start == cold.candles[-1].start

    sandbox.advance(5 * 3600)  # the engine was idle for longer than a page: the gap is read, nothing is missing
    gap = cache.closed(1, need)
    assert gap.requests == 2
    assert_contiguous_and_closed(gap.candles, 1, sandbox.server.now())


def test_day_candles_and_a_growing_need_are_paged_too(live, sandbox):
    cache = CandleCache(live, "KRW-BTC", sandbox.server.now)
    assert len(cache.closed(1440, 50).candles) == 50
    more = cache.closed(1440, 450)
    assert len(more.candles) == 450
    assert more.requests == 3
    assert_contiguous_and_closed(more.candles, 1440, sandbox.server.now())


def test_a_long_minute_strategy_decides_on_its_full_history(live, sandbox, engine_settings):
    engine_settings.STRATEGY = "volatility_breakout"
    StrategyConfig.objects.update_or_create(strategy="volatility_breakout", defaults={"params": {"candle_unit": 1}})
    engine = TradingEngine(live, clock=sandbox.server.now)

    outcome = engine.run_cycle(may_trade=False)

    assert outcome.ok, outcome.error
    # With 200 candles yesterday was never complete and the strategy could only say "no history".
    assert outcome.decision.reason != "no_history"
    assert outcome.decision.values["prev_range"] is not None


def test_a_strategy_needing_more_than_the_engine_reads_is_told_once(live, sandbox, engine_settings):
    engine_settings.STRATEGY = "macd"
    StrategyConfig.objects.update_or_create(strategy="macd", defaults={"params": {"slow": 2000, "signal": 1000}})
    engine = TradingEngine(live, clock=sandbox.server.now)

    outcome = engine.run_cycle(may_trade=False)
    assert outcome.ok
    assert str(outcome.decision.action) == "HOLD"
    assert outcome.decision.reason == "warmup"
    again = engine.run_cycle(may_trade=False)
    assert again.ok
    assert again.decision is None

    warning = EngineEvent.objects.get(kind="error", level="WARNING")
    assert "needs 15,000 closed 1-minute candles" in warning.message
    assert f"{MAX_CANDLES:,}" in warning.message


def test_volatility_breakout_sells_a_position_bought_before_the_day_change(live, sandbox, engine_settings):
    """The entry time comes from the fills: a position bought yesterday is sold on the first cycle of the new day."""
    engine_settings.STRATEGY = "volatility_breakout"
    StrategyConfig.objects.update_or_create(strategy="volatility_breakout", defaults={"params": {"candle_unit": 1}})
    now = sandbox.server.now()
    to_2340 = (now.replace(hour=23, minute=40, second=0, microsecond=0) - now).total_seconds() % 86400
    sandbox.advance(to_2340)
    sandbox.set_price("100000000")
    running()
    ManualOrderRequestFactory(kind="buy", krw=D("10000"), ts=sandbox.server.now())
    engine = TradingEngine(live, clock=sandbox.server.now)
    assert engine.run_cycle().ok
    bought = Fill.objects.get()
    assert engine._pnl.book.entry_at == bought.ts

    sandbox.advance(30 * 60)  # 00:10 UTC: the last closed candle belongs to the new day
    restarted = TradingEngine(live, clock=sandbox.server.now)
    outcome = restarted.run_cycle()

    assert outcome.ok, outcome.error
    assert str(outcome.decision.action) == "SELL"
    assert outcome.decision.reason == "day_changed"
    sell = Order.objects.get(side="sell")
    assert sell.status == Order.Status.DONE
    assert sell.signal.source == "volatility_breakout"


@pytest.mark.usefixtures("holding_strategy")
def test_the_trailing_stop_peak_survives_a_restart(live, sandbox, engine_settings):
    StrategyConfig.objects.filter(strategy="macd").update(
        params={"fast": 12, "slow": 2000, "signal": 1000, "trailing_stop_pct": "3"}
    )
    sandbox.set_price("100000000")
    running()
    ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    assert TradingEngine(live, clock=sandbox.server.now).run_cycle().ok
    assert Order.objects.get().status == Order.Status.DONE

    sandbox.advance(60)
    sandbox.set_price("110000000")  # the peak, seen live by the running engine
    first = TradingEngine(live, clock=sandbox.server.now)
    assert first.run_cycle().ok
    assert DecisionState.objects.get(mode="live").peak_price == D("110000000")
    sandbox.advance(120)
    sandbox.set_price("105000000")  # 4.5 % under the peak, 5 % over the entry
    sandbox.advance(120)

    restarted = TradingEngine(live, clock=sandbox.server.now)
    outcome = restarted.run_cycle()

    assert outcome.ok, outcome.error
    assert str(outcome.decision.action) == "SELL"
    assert outcome.decision.reason == "trailing_stop"
    assert Order.objects.filter(side="sell", status=Order.Status.DONE).count() == 1
    signal = Signal.objects.get(action="SELL")
    assert "110,000,000" in signal.explanation


@pytest.mark.usefixtures("holding_strategy")
def test_money_in_event_messages_reads_like_money(live, sandbox):
    sandbox.set_price("100000000")
    running()
    ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    assert TradingEngine(live, clock=sandbox.server.now).run_cycle().ok

    intent = EngineEvent.objects.get(kind="order_intent")
    fill = EngineEvent.objects.get(kind="fill")
    assert "buy price 10,000 KRW on KRW-BTC" in intent.message
    assert "00000000" not in intent.message
    assert "@ 100,001,000 KRW" in fill.message
    assert "(fee 5 KRW)" in fill.message
    assert D(fill.meta["fee"]) == Fill.objects.get().fee == D("4.99955")  # the stored values keep every digit
