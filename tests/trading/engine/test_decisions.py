"""The decision rules in the live cycle (docs/DECISIONS.md), against the sandbox over real HTTP on a clock the test moves.

Each candle is decided once; protective exits act on the live price within one cycle; the exchange's clock
decides when a candle is closed; stale market data blocks entries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading.engine.cycle import TradingEngine
from trading.models import DecisionState, EngineEvent, EngineState, Order, Signal, StrategyConfig

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


class ManualClock:
    """The sandbox's time: it moves only when the test says (sandbox.advance)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sandbox(sandbox_factory):
    return sandbox_factory(clock=ManualClock(datetime(2026, 11, 30, 3, 0, 30, tzinfo=UTC)))


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def crossing(**exits: object) -> None:
    """sma_cross(1, 2): BUY when a close rises above the mean of the last two after being below it."""
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2, **exits}})


def craft_cross_up(sandbox) -> None:
    """Three closed one-minute candles, 100M, 99M, 101M: the newest closed one is an entry signal."""
    for price in ("100000000", "99000000", "101000000"):
        sandbox.set_price(price)
        sandbox.advance(60)


def orders() -> list[tuple[str, str]]:
    return [(order.side, order.status) for order in Order.objects.order_by("id")]


def test_after_a_trailing_exit_the_same_candles_signal_is_not_bought_again(live, sandbox):
    crossing(trailing_stop_pct="1")
    running()
    craft_cross_up(sandbox)
    engine = TradingEngine(live, clock=sandbox.server.now)

    assert str(engine.run_cycle().decision.action) == "BUY"
    sandbox.set_price("103000000")  # a rise inside the forming candle raises the peak
    sandbox.advance(5)
    rising = engine.run_cycle()
    assert rising.ok
    assert rising.decision is None
    assert DecisionState.objects.get(mode="live").peak_price == D("103000000")

    sandbox.set_price("101900000")  # 1.07 % under the peak of 103M
    sandbox.advance(5)
    exit_outcome = engine.run_cycle()
    assert exit_outcome.decision.reason == "trailing_stop"
    for _ in range(6):  # the rest of the minute: the entry signal of 03:02 is still the newest closed candle
        sandbox.advance(5)
        assert engine.run_cycle().ok

    assert orders() == [("buy", "DONE"), ("sell", "DONE")]
    sell = Signal.objects.get(action="SELL")
    assert sell.meta["values"]["rule"] == "trailing_stop"
    assert sell.meta["values"]["peak"] == "103000000"
    assert sell.meta["values"]["level"] == "101970000"
    assert sell.meta["values"]["candle_start"].startswith("2026-11-30T03:03")


def test_a_stop_loss_fires_on_the_live_price_within_one_cycle(live, sandbox):
    crossing(stop_loss_pct="3")
    running()
    craft_cross_up(sandbox)
    engine = TradingEngine(live, clock=sandbox.server.now)
    assert str(engine.run_cycle().decision.action) == "BUY"
    bought = Order.objects.get()

    sandbox.set_price("95000000")  # 5.9 % under the entry, seconds later, long before the candle closes
    sandbox.advance(5)
    outcome = engine.run_cycle()

    assert outcome.ok, outcome.error
    assert outcome.decision.reason == "stop_loss"
    sell = Order.objects.get(side="sell")
    assert sell.status == Order.Status.DONE
    assert sell.volume == bought.executed_volume
    assert "stop-loss 3%" in sell.signal.explanation


def test_each_closed_candle_is_decided_once_also_across_a_restart(live, sandbox):
    crossing()
    running()
    craft_cross_up(sandbox)
    assert str(TradingEngine(live, clock=sandbox.server.now).run_cycle().decision.action) == "BUY"
    sandbox.set_price("101000000")
    sandbox.advance(5)

    restarted = TradingEngine(live, clock=sandbox.server.now)
    outcome = restarted.run_cycle()

    assert outcome.ok
    assert outcome.decision is None
    assert orders() == [("buy", "DONE")]
    state = DecisionState.objects.get(mode="live")
    assert state.decided_candle_start == datetime(2026, 11, 30, 3, 2, tzinfo=UTC)


def test_a_stale_ticker_blocks_entries_with_an_event_and_counts_as_a_failure(live, sandbox, engine_settings):
    engine_settings.TICKER_MAX_AGE_SEC = 60
    crossing()
    running()
    craft_cross_up(sandbox)
    # This PC's clock is two minutes ahead of the exchange's last trade: the market data is stale.
    engine = TradingEngine(live, clock=lambda: sandbox.server.now() + timedelta(seconds=120))

    outcome = engine.run_cycle()

    assert not outcome.ok
    assert outcome.retry_in_sec is not None
    assert "120 s old" in outcome.error
    assert not Order.objects.exists()
    event = EngineEvent.objects.get(kind="exchange_error")
    assert "TICKER_MAX_AGE_SEC" in event.message
    assert EngineState.load().consecutive_failures == 1
    # Fresh again: the candle was not consumed while stale, so its entry is taken now.
    fresh = TradingEngine(live, clock=sandbox.server.now).run_cycle()
    assert fresh.ok
    assert str(fresh.decision.action) == "BUY"
    assert EngineState.load().consecutive_failures == 0


def test_a_pc_clock_30_seconds_fast_does_not_trade_a_forming_candle(live, sandbox):
    crossing()
    running()
    for price in ("100000000", "99000000"):
        sandbox.set_price(price)
        sandbox.advance(60)
    sandbox.set_price("101000000")  # the 03:02 candle would be an entry signal once it closes
    sandbox.advance(5)  # 03:02:35 by the exchange, 03:03:05 by this PC's clock
    engine = TradingEngine(live, clock=lambda: sandbox.server.now() + timedelta(seconds=30))

    outcome = engine.run_cycle()

    assert outcome.ok, outcome.error
    assert outcome.decision.values["candle_start"] == "2026-11-30T03:01:00+00:00"
    assert not Order.objects.exists()
    sandbox.advance(30)  # 03:03:05 by the exchange: now the 03:02 candle is closed
    later = engine.run_cycle()
    assert str(later.decision.action) == "BUY"
    assert later.decision.values["candle_start"] == "2026-11-30T03:02:00+00:00"


def test_the_slippage_limit_shrinks_a_market_buy_to_what_the_book_fills_within_it(live, sandbox, engine_settings):
    from tests.factories import ManualOrderRequestFactory

    engine_settings.MAX_ORDER_KRW = D("1000000000")
    engine_settings.MAX_POSITION_RATIO = D("1")
    engine_settings.MAX_DAILY_LOSS_KRW = D("100000000")  # the fee on such a buy alone is a 250,000 KRW "loss"
    engine_settings.MAX_SLIPPAGE_PCT = D("0.002")  # 2 ticks of 1,000 KRW at 100,000,000
    sandbox.set_price("100000000")
    sandbox.set_balance("KRW", "2000000000")
    running()
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2}})
    engine_settings.STRATEGY = "sma_cross"
    # 500M KRW walks many levels of tens of millions each, one tick apart: far more than 0.002 % on average.
    ManualOrderRequestFactory(kind="buy", krw=D("500000000"))

    outcome = TradingEngine(live, clock=sandbox.server.now).run_cycle()

    assert outcome.ok, outcome.error
    order = Order.objects.get()
    assert order.status == Order.Status.DONE
    assert D("5000") <= order.price < D("500000000")  # shrunk, never below Upbit's minimum
    best_ask = min(order.fills.values_list("price", flat=True))
    average = order.executed_funds / order.executed_volume
    assert (average / best_ask - 1) * 100 <= D("0.002")
    shrunk = EngineEvent.objects.get(kind="risk_blocked", message__startswith="Order shrunk by the slippage limit")
    assert shrunk.meta["rule"] == "slippage"
    assert D(shrunk.meta["requested"]) == D("500000000")


def test_the_order_intent_event_carries_the_rule_and_its_numbers(live, sandbox):
    crossing(stop_loss_pct="3")
    running()
    craft_cross_up(sandbox)
    engine = TradingEngine(live, clock=sandbox.server.now)
    assert engine.run_cycle().ok
    sandbox.set_price("95000000")
    sandbox.advance(5)
    assert engine.run_cycle().ok

    intent = EngineEvent.objects.filter(kind="order_intent", meta__side="sell").get()
    values = intent.meta["decision"]["values"]
    assert values["rule"] == "stop_loss"
    assert values["price"] == "95000000"
    assert values["level"] == "97970970"
    assert values["candle_start"].startswith("2026-11-30T03:03")
