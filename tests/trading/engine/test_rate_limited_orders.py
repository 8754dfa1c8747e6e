"""Orders Upbit refuses with 429: how many POSTs reach the exchange, how the order rows end, when the kill-switch trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from exchange.throttle import Throttle
from exchange.upbit import UpbitClient
from tests.factories import ManualOrderRequestFactory
from tests.waiting import ManualClock
from trading.engine.cycle import TradingEngine
from trading.models import EngineEvent, EngineState, ManualOrderRequest, Order, StrategyConfig
from trading.templatetags.dashboard import event_text

from .conftest import HOLDING_PARAMS, HOLDING_STRATEGY

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]
ORDERS = "/v1/orders"


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


@pytest.fixture
def client(sandbox, live):
    """A live client whose pauses run on a manual clock: the test counts requests, not seconds."""
    clock = ManualClock()
    client = UpbitClient(
        sandbox.base_url,
        sandbox.access_key,
        sandbox.secret_key,
        read_timeout=2,
        connect_timeout=1,
        max_retries=1,
        throttle=Throttle(clock=clock, sleep=clock.advance),
    )
    yield client
    client.close()


def posts(sandbox) -> int:
    return sandbox.received("POST", ORDERS)


def test_a_burst_of_429s_sends_a_bounded_number_of_orders_then_trips_the_kill_switch(client, sandbox, engine_settings):
    sandbox.set_price("100000000")
    running()
    requests = [ManualOrderRequestFactory(kind="buy", krw=D("10000")) for _ in range(5)]
    sandbox.fail_next(ORDERS, method="POST", status=429, name="", body="Too many API requests.", count=1000)
    engine = TradingEngine(client)
    limit = engine_settings.MAX_CONSECUTIVE_FAILURES

    outcomes = [engine.run_cycle() for _ in range(limit + 3)]

    # One intent per cycle, each sent at most twice (the resend after a full-window pause), none after the trip.
    assert posts(sandbox) == 2 * limit
    assert sandbox.state()["orders"] == []
    orders = list(Order.objects.order_by("id"))
    assert len(orders) == limit
    assert {order.status for order in orders} == {Order.Status.ABSENT}
    assert len({order.identifier for order in orders}) == limit
    # The cycles before the trip back off instead of sending the next order at the usual pace.
    assert all(not outcome.ok and outcome.retry_in_sec for outcome in outcomes[: limit - 1])
    assert outcomes[limit - 1].stopped
    state = EngineState.load()
    assert state.kill_switch
    assert state.state == "ERROR"
    assert "rate limit (HTTP 429)" in state.kill_switch_reason
    assert state.consecutive_order_failures == limit
    # The refused requests are settled (nothing was placed); the rest wait for a person to press Reset.
    statuses = [ManualOrderRequest.objects.get(pk=request.pk) for request in requests]
    assert [request.status for request in statuses] == ["REJECTED"] * limit + ["PENDING"] * (5 - limit)
    assert all("rate limit" in request.result for request in statuses[:limit])
    refused = EngineEvent.objects.filter(kind="order_rejected", meta__error_name="rate_limited")
    assert refused.count() == limit
    with translation.override("ko"):
        shown = event_text(refused.first())
    assert shown.startswith("주문이 접수되지 않았습니다: 업비트가 요청 한도 초과(HTTP 429)로 거부했습니다")


def test_after_a_429_the_engine_backs_off_and_the_next_order_goes_through(client, sandbox):
    sandbox.set_price("100000000")
    running()
    first = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    second = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    sandbox.fail_next(ORDERS, method="POST", status=429, name="", body="Too many API requests.", count=2)
    engine = TradingEngine(client)

    refused = engine.run_cycle()
    placed = engine.run_cycle()

    assert not refused.ok
    assert refused.retry_in_sec is not None
    assert refused.retry_in_sec > 0
    assert "rate limit" in refused.error
    assert placed.ok
    assert posts(sandbox) == 3
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("REJECTED", "DONE")
    assert [o["identifier"] for o in sandbox.state()["orders"]] == [second.order.identifier]
    state = EngineState.load()
    assert (state.consecutive_order_failures, state.consecutive_failures) == (0, 0)
    assert not state.kill_switch


def test_a_429_on_an_exit_is_not_resent_every_cycle_at_full_pace(client, sandbox, engine_settings):
    """A protective exit fires every cycle until the coin is sold: under a burst of 429s it still stops after the
    kill-switch's count, instead of sending ever more POSTs until Upbit bans the key."""
    sandbox.set_price("100000000")
    StrategyConfig.objects.filter(strategy=HOLDING_STRATEGY).update(params={**HOLDING_PARAMS, "stop_loss_pct": "3"})
    sandbox.set_balance("BTC", "0.001", avg_buy_price="200000000")  # half the entry: the stop-loss fires every cycle
    running()
    sandbox.fail_next(ORDERS, method="POST", status=429, name="", body="Too many API requests.", count=1000)
    engine = TradingEngine(client)
    limit = engine_settings.MAX_CONSECUTIVE_FAILURES

    for _ in range(limit * 3):
        engine.run_cycle()

    assert posts(sandbox) == 2 * limit
    assert EngineState.load().kill_switch
    assert list(Order.objects.values_list("side", "status")) == [("sell", "ABSENT")] * limit
