"""Fills the private stream reports: REST is asked about that order at once, and nothing is booked twice.

The engine and the exchange are real (the sandbox over HTTP); the stream's message is handed to the feed the way
its thread would, so the test controls exactly when the stream "says" it (the socket path: test_stream_engine.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exchange.upbit.stream_messages import MyOrderMessage
from tests.factories import ManualOrderRequestFactory
from tests.trading.engine.test_stream_feed import UndialledClient
from tests.waiting import ManualClock
from trading.engine import orders as order_ops
from trading.engine.cycle import TradingEngine
from trading.engine.stream import MarketFeed
from trading.models import EngineState, Fill, Order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]
AT = datetime(2026, 12, 5, tzinfo=UTC)


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def lookups(sandbox) -> int:
    return sandbox.received("GET", "/v1/order")


@pytest.fixture
def engine(live, sandbox):
    sandbox.set_price("100000000")
    running()
    engine = TradingEngine(live)
    wakes: list[float] = []
    engine.feed = MarketFeed(
        market="KRW-BTC",
        url="ws://127.0.0.1:1/websocket/v1",
        stale_sec=5,
        wake=lambda: wakes.append(1.0),
        access_key="a",
        secret_key="s",
        clock=ManualClock(),
        client_factory=UndialledClient,
    )
    ManualOrderRequestFactory(kind="buy", krw=Decimal("10000"))
    assert engine.run_cycle().ok
    return engine


def reported(order: Order, state: str = "done") -> MyOrderMessage:
    return MyOrderMessage(order.exchange_uuid, order.market, "BID", state, "trade-1", order.identifier, AT)


def test_a_fill_already_booked_by_rest_is_not_booked_again_nor_looked_up(engine, sandbox):
    order = Order.objects.get()
    assert order.status == Order.Status.DONE
    fills = Fill.objects.count()
    assert fills >= 1
    asked = lookups(sandbox)
    assert engine.feed is not None
    engine.feed.on_private(reported(order))

    assert engine.run_cycle().ok
    assert Fill.objects.count() == fills
    assert lookups(sandbox) == asked  # REST had told the whole story already


def test_a_fill_the_stream_saw_first_is_booked_once_from_rest_by_trade_id(engine, sandbox):
    order = Order.objects.get()
    booked = list(Fill.objects.values_list("trade_id", "volume"))
    Fill.objects.all().delete()  # as if the order's trades had not been read yet
    asked = lookups(sandbox)
    assert engine.feed is not None
    engine.feed.on_private(reported(order, "trade"))
    engine.feed.on_private(reported(order, "done"))  # the same trade told twice

    assert engine.run_cycle().ok
    assert lookups(sandbox) == asked + 1
    assert list(Fill.objects.values_list("trade_id", "volume")) == booked
    # REST again, with the stream's report and without: still one row per trade.
    order_ops.orders_reconcile_reported(live_exchange(engine), account=engine.account, uuids={order.exchange_uuid})
    engine.run_cycle()
    assert list(Fill.objects.values_list("trade_id", "volume")) == booked


def test_an_order_of_another_program_is_ignored(engine, sandbox):
    asked = lookups(sandbox)
    assert engine.feed is not None
    engine.feed.on_private(MyOrderMessage("not-ours", "KRW-BTC", "BID", "done", "t-9", None, AT))
    assert engine.run_cycle().ok
    assert lookups(sandbox) == asked


def live_exchange(engine: TradingEngine):
    return engine.exchange
