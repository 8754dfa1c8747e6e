"""Paused entries in the live cycle, against the sandbox over real HTTP on a clock the test moves.

While paused (by a person, a schedule window or Upbit's market_offline) the strategy's buy is refused and
nothing is sent; a stop-loss on the held position still sells.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trading import pause_services
from trading.engine.cycle import TradingEngine
from trading.models import EngineEvent, EngineState, Order, StrategyConfig
from trading.schedule_models import PauseWindow

pytestmark = pytest.mark.django_db(transaction=True)
START = datetime(2026, 11, 30, 3, 0, 30, tzinfo=UTC)  # 12:00:30 in Seoul


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sandbox(sandbox_factory):
    return sandbox_factory(clock=ManualClock(START))


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def crossing(**exits: object) -> None:
    """sma_cross(1, 2): BUY when a close rises above the mean of the last two after being below it."""
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2, **exits}})


def craft_cross_up(sandbox) -> None:
    for price in ("100000000", "99000000", "101000000"):
        sandbox.set_price(price)
        sandbox.advance(60)


def blocked_buys() -> list[EngineEvent]:
    return list(EngineEvent.objects.filter(kind="risk_blocked", meta__action="buy").order_by("id"))


def test_no_buy_is_placed_while_entries_are_paused_and_one_is_after_resume(live, sandbox):
    crossing()
    running()
    pause_services.entries_pause(actor="user:alice", reason="FOMC")
    craft_cross_up(sandbox)
    engine = TradingEngine(live, clock=sandbox.server.now)

    outcome = engine.run_cycle()

    assert outcome.ok, outcome.error
    assert str(outcome.decision.action) == "BUY"
    assert not Order.objects.exists()
    [blocked] = blocked_buys()
    assert blocked.meta["blocked_by"] == "entries_paused"
    assert "new entries paused by user:alice (FOMC)" in blocked.message
    assert blocked.meta["text"]["code"] == "entries_paused_manual"

    pause_services.entries_resume(actor="user:alice")
    for price in ("99000000", "98000000", "102000000"):  # a fresh entry signal on later candles
        sandbox.set_price(price)
        sandbox.advance(60)
    assert engine.run_cycle().ok
    assert engine.run_cycle().ok  # whichever cycle sees the crossing candle, one buy follows
    assert list(Order.objects.values_list("side", "status")) == [("buy", "DONE")]


def test_a_stop_loss_still_sells_while_entries_are_paused(live, sandbox):
    crossing(stop_loss_pct="3")
    running()
    craft_cross_up(sandbox)
    engine = TradingEngine(live, clock=sandbox.server.now)
    assert str(engine.run_cycle().decision.action) == "BUY"
    bought = Order.objects.get()

    pause_services.entries_pause(actor="user:alice", reason="FOMC")
    sandbox.set_price("95000000")  # 5.9 % under the entry
    sandbox.advance(5)
    outcome = engine.run_cycle()

    assert outcome.ok, outcome.error
    assert outcome.decision.reason == "stop_loss"
    sell = Order.objects.get(side="sell")
    assert sell.status == Order.Status.DONE
    assert sell.volume == bought.executed_volume


def test_a_manual_buy_goes_through_while_entries_are_paused(live, sandbox, engine_settings):
    from tests.factories import ManualOrderRequestFactory

    engine_settings.STRATEGY = "sma_cross"
    crossing()
    running()
    sandbox.set_price("100000000")
    pause_services.entries_pause(actor="user:alice")
    ManualOrderRequestFactory(kind="buy", krw="10000")

    assert TradingEngine(live, clock=sandbox.server.now).run_cycle().ok

    assert list(Order.objects.values_list("side", "status")) == [("buy", "DONE")]


def test_a_schedule_window_refuses_the_buy_by_the_exchanges_clock(live, sandbox):
    crossing()
    running()
    craft_cross_up(sandbox)  # the sandbox's clock is now 03:03:30 UTC = 12:03:30 in Seoul
    PauseWindow.objects.create(
        label="Upbit maintenance", starts_at=START + timedelta(minutes=3), ends_at=START + timedelta(minutes=30)
    )

    outcome = TradingEngine(live, clock=sandbox.server.now).run_cycle()

    assert str(outcome.decision.action) == "BUY"
    assert not Order.objects.exists()
    [blocked] = blocked_buys()
    assert blocked.meta["blocked_by"] == "entries_paused"
    assert "schedule window “Upbit maintenance” (2026-11-30 12:03:30 – 2026-11-30 12:30:30, Seoul time)" in blocked.message


def test_a_window_the_exchanges_clock_has_not_reached_refuses_nothing(live, sandbox):
    crossing()
    running()
    craft_cross_up(sandbox)
    later = START + timedelta(minutes=3, seconds=1)  # one second after the exchange's time
    PauseWindow.objects.create(label="later", starts_at=later, ends_at=later + timedelta(hours=1))

    TradingEngine(live, clock=sandbox.server.now).run_cycle()

    assert list(Order.objects.values_list("side", flat=True)) == ["buy"]


def test_upbits_market_offline_is_shown_as_such_and_refuses_the_next_entry(live, sandbox):
    crossing()
    running()
    craft_cross_up(sandbox)
    sandbox.fail_next("/v1/orders", method="POST", status=403, name="market_offline", count=1)
    engine = TradingEngine(live, clock=sandbox.server.now)

    engine.run_cycle()

    state = EngineState.load()
    assert state.market_offline_at is not None
    seen = EngineEvent.objects.get(meta__text__code="market_offline_order")
    assert seen.message.startswith("Market offline (Upbit maintenance) while placing an order")
    # The refused order is looked up later and found never to have reached Upbit; here it is settled at once.
    assert Order.objects.filter(status=Order.Status.UNKNOWN).update(status=Order.Status.ABSENT) == 1
    for price in ("99000000", "98000000", "102000000"):  # the next entry signal, within the hold
        sandbox.set_price(price)
        sandbox.advance(60)
    engine.run_cycle()
    engine.run_cycle()
    assert not Order.objects.filter(status=Order.Status.DONE).exists()
    assert blocked_buys()[-1].meta["blocked_by"] == "market_offline"


def test_a_market_offline_answer_to_the_market_data_is_recorded_as_maintenance(live, sandbox):
    crossing()
    running()
    sandbox.set_price("100000000")
    sandbox.fail_next("/v1/ticker", method="GET", status=503, name="market_offline", count=5)

    outcome = TradingEngine(live, clock=sandbox.server.now).run_cycle()

    assert not outcome.ok
    assert EngineState.load().market_offline_at is not None
    seen = EngineEvent.objects.get(meta__text__code="market_offline_market")
    assert seen.message.startswith("Market offline (Upbit maintenance) while reading the market")
