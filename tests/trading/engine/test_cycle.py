from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import ManualOrderRequestFactory
from trading import services
from trading.engine.cycle import TradingEngine
from trading.models import (
    BalanceSnapshot,
    EngineEvent,
    EngineState,
    Fill,
    ManualOrderRequest,
    Order,
    PnlDaily,
    Signal,
)

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def test_a_manual_buy_goes_through_the_cycle_to_the_live_exchange_with_its_fill(live, sandbox):
    sandbox.set_price("100000000")
    running()
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    engine = TradingEngine(live)

    outcome = engine.run_cycle()

    assert outcome.ok, outcome.error
    order = Order.objects.get()
    assert (order.side, order.ord_type, order.mode, order.status) == ("buy", "price", "live", Order.Status.DONE)
    assert order.identifier.startswith("ac-")
    assert order.exchange_uuid
    fill = Fill.objects.get()
    assert fill.order == order
    assert fill.fee > 0
    # the sandbox really moved the money
    balances = sandbox.state()["balances"]
    assert D(balances["BTC"]["balance"]) == fill.volume
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.DONE
    assert request.order == order
    signal = Signal.objects.get(source="manual")
    assert signal.action == "BUY"
    assert order.signal == signal
    state = EngineState.load()
    assert state.iteration == 1
    assert state.last_price == D("100000000")
    assert state.last_cycle_at is not None
    assert BalanceSnapshot.objects.filter(mode="live").exists()
    row = PnlDaily.objects.get(mode="live")
    assert row.trades == 1
    assert row.fees == fill.fee
    kinds = set(EngineEvent.objects.values_list("kind", flat=True))
    assert {"order_intent", "order_submitted", "fill"} <= kinds
    assert engine.metrics.snapshot()["orders_placed_total"] == 1


def test_a_manual_buy_then_close_in_paper_mode(paper, sandbox):
    sandbox.set_price("50000000")
    running()
    ManualOrderRequestFactory(kind="buy", krw=D("20000"), requested_by="user:alice")
    engine = TradingEngine(paper)
    from django.conf import settings

    settings.MAX_ORDER_KRW = D("20000")
    assert engine.run_cycle().ok
    buy = Order.objects.get()
    assert (buy.mode, buy.status, buy.side) == ("paper", Order.Status.DONE, "buy")
    # the paper exchange never touches the sandbox account
    assert D(sandbox.state()["balances"]["KRW"]["balance"]) == D("1000000")

    close = ManualOrderRequestFactory(kind="close", krw=None)
    assert engine.run_cycle().ok
    sell = Order.objects.filter(side="sell").get()
    assert sell.status == Order.Status.DONE
    assert sell.volume == buy.executed_volume
    close.refresh_from_db()
    assert close.status == ManualOrderRequest.Status.DONE
    assert Fill.objects.count() == 2
    # the whole round trip: what the sale brought in minus everything the buy cost, fees included
    bought, sold = Fill.objects.get(order=buy), Fill.objects.get(order=sell)
    row = PnlDaily.objects.get(mode="paper")
    assert row.realized == (sold.funds - sold.fee) - (bought.funds + bought.fee)
    assert row.realized < 0
    assert row.fees == bought.fee + sold.fee


def test_a_manual_order_the_risk_gate_refuses_is_rejected_with_the_reason(live, sandbox):
    sandbox.set_price("100000000")
    running()
    request = ManualOrderRequestFactory(kind="buy", krw=D("50000"))  # above MAX_ORDER_KRW 10,000

    assert TradingEngine(live).run_cycle().ok

    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.REJECTED
    assert "MAX_ORDER_KRW" in request.result
    assert not Order.objects.exists()
    assert EngineEvent.objects.filter(kind="risk_blocked").exists()


def test_hold_signals_are_recorded_on_change_only(live, sandbox):
    engine = TradingEngine(live)
    for _ in range(3):
        assert engine.run_cycle().ok
    holds = Signal.objects.filter(action="HOLD")
    assert holds.count() == 1
    assert "warming up" in holds.get().explanation
    assert EngineState.load().iteration == 3


def test_an_order_rejected_by_the_exchange_is_counted_and_shown_to_the_strategy(live, sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("KRW", "3000")  # the exchange will refuse: not enough KRW
    running()
    ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    engine = TradingEngine(live)
    # the risk gate sizes by the balance it reads; force the exchange to be the one refusing
    sandbox.fail_next(
        "/v1/orders", method="POST", status=400, name="insufficient_funds_bid", message="주문가능한 금액(KRW)이 부족합니다."
    )
    sandbox.set_balance("KRW", "1000000")

    assert engine.run_cycle().ok

    order = Order.objects.get()
    assert order.status == Order.Status.REJECTED
    assert order.error_name == "insufficient_funds_bid"
    assert EngineState.load().consecutive_order_failures == 1
    assert EngineEvent.objects.filter(kind="order_rejected").exists()
    assert engine.metrics.snapshot()["orders_failed_total"] == 1
    engine.run_cycle()
    hold = Signal.objects.filter(source="macd").latest("ts")
    assert hold.meta["last_rejection"]["error_name"] == "insufficient_funds_bid"


def test_a_401_puts_the_engine_in_error_at_once_with_advice(live, sandbox):
    running()
    sandbox.reject_keys(True)

    outcome = TradingEngine(live).run_cycle()

    assert outcome.stopped
    state = EngineState.load()
    assert state.state == "ERROR"
    assert "UPBIT_ACCESS_KEY" in state.state_reason
    assert not state.kill_switch
    assert sandbox.secret_key not in state.state_reason


def test_repeated_500s_back_off_then_trip_the_kill_switch(live, sandbox):
    running()
    sandbox.fail_next("/v1/ticker", status=500, count=20)
    engine = TradingEngine(live, sleep_jitter=lambda: 1.0)

    first = engine.run_cycle()
    second = engine.run_cycle()
    assert not first.ok
    assert first.retry_in_sec == 1.0
    assert second.retry_in_sec == 2.0  # exponential
    assert EngineState.load().state == "RUNNING"
    assert EngineState.load().consecutive_failures == 2

    third = engine.run_cycle()

    assert third.stopped
    state = EngineState.load()
    assert state.state == "ERROR"
    assert state.kill_switch
    assert "3 exchange calls in a row failed" in state.kill_switch_reason
    assert EngineEvent.objects.filter(kind="exchange_error").count() == 3
    assert engine.metrics.snapshot()["exchange_errors_total"]["RetryLater"] == 3


def test_backoff_is_capped(live):
    engine = TradingEngine(live, sleep_jitter=lambda: 1.0)
    assert engine.backoff_delay(1) == 1.0
    assert engine.backoff_delay(4) == 8.0
    assert engine.backoff_delay(30) == 60.0


def test_a_success_clears_the_failure_count(live, sandbox):
    running()
    sandbox.fail_next("/v1/ticker", status=500, count=1)
    engine = TradingEngine(live)
    assert not engine.run_cycle().ok
    assert engine.run_cycle().ok
    assert EngineState.load().consecutive_failures == 0


def test_cycle_metrics_histogram_counts_every_cycle(live):
    engine = TradingEngine(live)
    engine.run_cycle()
    engine.run_cycle()
    metrics = engine.metrics.snapshot()
    histogram = metrics["cycle_duration_seconds"]
    assert metrics["cycles_total"] == 2
    assert histogram["count"] == 2
    assert histogram["buckets"]["+Inf"] == 2
    assert list(histogram["buckets"]) == ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
    assert metrics["equity_krw"] is not None
    assert metrics["pnl_today_krw"] is not None


def test_a_process_that_lost_its_claim_sends_no_order(live, sandbox):
    """A process frozen past the stale limit (another one took over) wakes up mid-cycle: no order leaves it."""
    sandbox.set_price("100000000")
    running()
    EngineState.objects.filter(pk=1).update(owner="other-host:42")
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))

    outcome = TradingEngine(live, owner="this-host:7").run_cycle()

    assert outcome.stopped
    assert "other-host:42" in outcome.error
    assert not Order.objects.exists()
    assert sandbox.state()["orders"] == []
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.PENDING  # the engine that owns the row carries it out


def test_after_a_418_no_call_is_made_until_the_ban_ends_even_after_a_restart(live, sandbox):
    running()
    sandbox.fail_next("/v1/ticker", status=418, body="Too many API requests. Blocked for 60 seconds.")
    outcome = TradingEngine(live).run_cycle()
    assert outcome.stopped
    assert EngineState.load().state == "ERROR"
    error = EngineEvent.objects.filter(kind="error").latest("id")
    assert "no call to Upbit before" in error.message

    services.engine_reset(actor="user:alice")
    services.engine_start(actor="user:alice")
    restarted = TradingEngine(live)
    calls = live.stats["calls"]
    for _ in range(2):
        waiting = restarted.run_cycle()
        assert not waiting.ok
        assert not waiting.stopped
        assert 50 < waiting.retry_in_sec <= 60
    assert live.stats["calls"] == calls  # nothing was sent: a call during the ban makes it longer
    assert EngineEvent.objects.filter(message__startswith="Waiting").count() == 1
    assert EngineState.load().state == "RUNNING"
    assert EngineState.load().consecutive_failures == 0


def test_a_burst_of_manual_requests_is_worked_through_in_batches_oldest_first(live, sandbox):
    from trading.engine.manual import MANUAL_BATCH

    sandbox.set_price("100000000")
    running()
    requests = [ManualOrderRequestFactory(kind="close", krw=None) for _ in range(MANUAL_BATCH + 5)]
    engine = TradingEngine(live)

    assert engine.run_cycle().ok
    pending = ManualOrderRequest.objects.filter(status=ManualOrderRequest.Status.PENDING)
    assert list(pending.order_by("id").values_list("id", flat=True)) == [r.pk for r in requests[MANUAL_BATCH:]]
    assert engine.run_cycle().ok
    assert not pending.exists()
    assert ManualOrderRequest.objects.filter(status="REJECTED", result__contains="nothing to sell").count() == MANUAL_BATCH + 5


def test_an_exchange_without_order_rules_still_trades_on_upbits_published_fee(live, sandbox):
    running()
    sandbox.fail_next("/v1/orders/chance", status=404, name="not_found", message="no such endpoint")

    outcome = TradingEngine(live).run_cycle()

    assert outcome.ok
    assert EngineState.load().state == "RUNNING"
    warning = EngineEvent.objects.filter(kind=EngineEvent.Kind.EXCHANGE_ERROR).latest("id")
    assert warning.level == "WARNING"
    assert "using Upbit's KRW fee 0.05%" in warning.message


def test_an_unknown_market_stops_the_engine(live, sandbox):
    running()
    sandbox.fail_next("/v1/orders/chance", status=400, name="notfoundmarket", message="다음 마켓에 없는 종목입니다: KRW-BTC")

    outcome = TradingEngine(live).run_cycle()

    assert outcome.stopped
    assert EngineState.load().state == "ERROR"
