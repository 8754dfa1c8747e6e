"""The risk gate and the kill-switch as the cycle applies them, on crafted price paths in the sandbox."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import ManualOrderRequestFactory, OrderFactory, SignalFactory
from trading import services
from trading.engine.cycle import TradingEngine
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order, PnlDaily, Signal, StrategyConfig

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(frozen_sandbox):
    return frozen_sandbox


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


@pytest.fixture
def crossing_strategy(db):
    """sma_cross(1, 2): BUY when a close rises above the mean of the last two after being below it."""
    StrategyConfig.objects.update_or_create(strategy="sma_cross", defaults={"params": {"fast": 1, "slow": 2}})


def craft_cross_up(sandbox) -> None:
    for price in ("100000000", "99000000", "101000000"):
        sandbox.set_price(price)
        sandbox.advance(60)


def engine_for(exchange, sandbox) -> TradingEngine:
    return TradingEngine(exchange, clock=sandbox.server.now)


@pytest.mark.usefixtures("crossing_strategy")
def test_the_strategy_buys_on_its_own_signal(live, sandbox):
    running()
    craft_cross_up(sandbox)

    outcome = engine_for(live, sandbox).run_cycle()

    assert outcome.ok, outcome.error
    assert str(outcome.decision.action) == "BUY"
    order = Order.objects.get()
    assert order.status == Order.Status.DONE
    assert order.signal.source == "sma_cross"
    assert order.price == D("10000")  # MAX_ORDER_KRW
    assert Signal.objects.get(action="BUY").orders.get() == order


@pytest.mark.usefixtures("crossing_strategy")
def test_cooldown_holds_back_a_second_strategy_buy(live, sandbox, engine_settings):
    engine_settings.ORDER_COOLDOWN_SEC = 600
    running()
    earlier = OrderFactory(mode="live", side="buy", signal=SignalFactory(source="sma_cross"), status=Order.Status.DONE)
    Order.objects.filter(pk=earlier.pk).update(ts=sandbox.server.now() - timezone.timedelta(seconds=60))
    craft_cross_up(sandbox)

    outcome = engine_for(live, sandbox).run_cycle()

    assert str(outcome.decision.action) == "BUY"
    assert Order.objects.count() == 1  # only the earlier one
    blocked = EngineEvent.objects.get(kind="risk_blocked")
    assert "cooldown" in blocked.message
    assert blocked.meta["blocked_by"] == "cooldown"


@pytest.mark.usefixtures("holding_strategy")
def test_the_position_cap_blocks_a_buy_that_would_exceed_it(live, sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("BTC", "0.005", avg_buy_price="100000000")  # 500,000 of 1,500,000 equity: above 30 %
    running()
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))

    assert engine_for(live, sandbox).run_cycle().ok

    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.REJECTED
    assert "position cap" in request.result or "the position cap" in request.result
    assert not Order.objects.exists()


@pytest.mark.usefixtures("holding_strategy")
def test_the_daily_loss_limit_trips_the_kill_switch_and_reset_rearms_only_exits(live, sandbox, engine_settings):
    engine_settings.MAX_DAILY_LOSS_KRW = D("1000")
    sandbox.set_price("100000000")
    running()
    ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    engine = engine_for(live, sandbox)
    assert engine.run_cycle().ok
    assert Order.objects.filter(status="DONE").count() == 1

    sandbox.set_price("80000000")  # -20 %: about -2,000 KRW on a 10,000 KRW position
    outcome = engine.run_cycle()

    assert outcome.stopped
    state = EngineState.load()
    assert state.state == "ERROR"
    assert state.kill_switch
    assert "daily loss limit" in state.kill_switch_reason
    row = PnlDaily.objects.get(mode="live")
    assert row.total <= -D("1000")
    assert EngineEvent.objects.filter(kind="kill_switch", meta__rule="daily_loss").exists()

    # a cycle in ERROR never trades
    ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    engine.run_cycle(may_trade=True)
    assert Order.objects.count() == 1

    services.engine_reset(actor="user:alice")
    services.engine_start(actor="user:alice")
    assert engine.run_cycle().ok  # does not trip again the same day
    assert EngineState.load().state == "RUNNING"
    buy = ManualOrderRequest.objects.filter(kind="buy").latest("ts")
    assert buy.status == "REJECTED"
    assert "daily loss" in buy.result
    close = ManualOrderRequestFactory(kind="close", krw=None)
    assert engine.run_cycle().ok
    close.refresh_from_db()
    assert close.status == "DONE", close.result


@pytest.mark.usefixtures("holding_strategy")
def test_daily_pnl_across_local_midnight_adds_up_and_rebuilds_the_same(live, sandbox):
    from datetime import timedelta

    from trading.engine.pnl import local_day, pnl_rebuild
    from trading.models import Fill

    now = sandbox.server.now()
    to_1457 = (now.replace(hour=14, minute=57, second=0, microsecond=0) - now).total_seconds() % 86400
    sandbox.advance(to_1457)  # 23:57 in Seoul
    running()
    engine = engine_for(live, sandbox)
    sandbox.set_price("100000000")
    ManualOrderRequestFactory(kind="buy", krw=D("10000"), ts=sandbox.server.now())
    assert engine.run_cycle().ok
    sandbox.set_price("101000000")
    sandbox.advance(90)
    ManualOrderRequestFactory(kind="sell", krw=None, volume=D("0.00005"), ts=sandbox.server.now())
    assert engine.run_cycle().ok
    day1 = local_day(sandbox.server.now())

    sandbox.advance(300)  # 00:03 the next day in Seoul
    sandbox.set_price("102000000")
    ManualOrderRequestFactory(kind="close", krw=None, ts=sandbox.server.now())
    assert engine.run_cycle().ok
    day2 = local_day(sandbox.server.now())
    assert day2 == day1 + timedelta(days=1)

    rows = {row.date: row for row in PnlDaily.objects.filter(mode="live")}
    assert set(rows) == {day1, day2}
    assert rows[day1].trades == 2
    assert rows[day2].trades == 1
    assert rows[day2].unrealized + rows[day1].unrealized == 0  # yesterday's paper gain is today's baseline
    fills = Fill.objects.select_related("order")
    total = sum((f.funds if f.order.side == "sell" else -f.funds) - f.fee for f in fills)
    assert sum(row.realized + row.unrealized for row in rows.values()) == total.quantize(D("0.00000001"))
    summary = EngineEvent.objects.get(kind="pnl")
    assert str(day1) in summary.message

    before = {d: (r.realized, r.fees, r.trades) for d, r in rows.items()}
    pnl_rebuild()
    after = {row.date: (row.realized, row.fees, row.trades) for row in PnlDaily.objects.filter(mode="live")}
    assert after == before
