from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import FillFactory, ManualOrderRequestFactory
from tests.waiting import wait_until
from trading.engine import orders as order_ops
from trading.engine.cycle import TradingEngine
from trading.models import EngineEvent, EngineState, Fill, ManualOrderRequest, Order

from .conftest import live_client

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("holding_strategy")]


def running() -> None:
    EngineState.load()
    EngineState.objects.filter(pk=1).update(state="RUNNING")


def sandbox_orders(sandbox) -> list[dict]:
    return sandbox.state()["orders"]


def test_intent_is_committed_before_the_exchange_is_called(live, sandbox):
    seen: list[tuple[str, str]] = []

    class Watching:
        """Reads the database from inside the exchange call, as a crash at that moment would leave it."""

        def __init__(self, inner):
            self.inner = inner

        def place_order(self, request):
            row = Order.objects.get(identifier=request.identifier)
            seen.append((row.status, request.identifier))
            return self.inner.place_order(request)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    sandbox.set_price("100000000")
    result = order_ops.order_submit(
        Watching(live), market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000")
    )

    assert seen == [("NEW", result.order.identifier)]
    assert result.placed
    assert result.order.status == Order.Status.DONE


def test_accept_then_drop_is_adopted_next_cycle_without_a_second_order(live, sandbox):
    sandbox.set_price("100000000")
    running()
    request = ManualOrderRequestFactory(kind="buy", krw=D("10000"))
    sandbox.drop_after_accept("/v1/orders", method="POST")
    engine = TradingEngine(live)

    engine.run_cycle()

    order = Order.objects.get()
    assert order.status == Order.Status.UNKNOWN
    assert EngineEvent.objects.filter(kind="order_unknown").exists()
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.PROCESSING  # taken, settled once the order is found
    assert request.order == order

    ManualOrderRequestFactory(kind="buy", krw=D("10000"))  # a second request must wait for the first
    engine.run_cycle()

    order.refresh_from_db()
    assert order.status == Order.Status.DONE
    assert order.exchange_uuid
    assert Fill.objects.filter(order=order).count() >= 1
    request.refresh_from_db()
    assert request.status == ManualOrderRequest.Status.DONE
    assert len(sandbox_orders(sandbox)) <= 2
    assert [o["identifier"] for o in sandbox_orders(sandbox)].count(order.identifier) == 1


def test_a_timeout_marks_the_order_unknown_and_blocks_the_market_until_found(sandbox, live):
    sandbox.set_price("100000000")
    running()
    slow = live_client(sandbox, read_timeout=0.5)
    sandbox.control("POST", "stall", {"path": "/v1/orders", "method": "POST", "seconds": 1.5, "after": True})
    result = order_ops.order_submit(slow, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))
    assert result.order.status == Order.Status.UNKNOWN

    with pytest.raises(RuntimeError, match="still UNKNOWN"):
        order_ops.order_submit(slow, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))

    wait_until(lambda: sandbox_orders(sandbox), timeout=5, message="the sandbox never placed the order")
    order_ops.orders_reconcile(live, account=live.account)
    result.order.refresh_from_db()
    assert result.order.status == Order.Status.DONE
    assert len(sandbox_orders(sandbox)) == 1
    assert order_ops.blocking_orders("KRW-BTC", live.account) == []
    slow.close()


def test_an_intent_that_never_reached_the_exchange_becomes_absent_after_repeated_lookups(live, sandbox):
    # A crash between the commit and the send leaves a NEW row the exchange has never seen.
    order = Order.objects.create(
        market="KRW-BTC",
        side="buy",
        ord_type="price",
        price=D("6000"),
        mode="live",
        account=live.account,
        identifier="ac-neverSent",
        status="NEW",
        ts=timezone.now() - order_ops.absent_min_age(),
    )
    for attempt in range(1, order_ops.ABSENT_AFTER_LOOKUPS):
        order_ops.orders_reconcile(live, account=live.account)
        order.refresh_from_db()
        assert order.status == Order.Status.NEW
        assert order.lookup_attempts == attempt
        assert order_ops.blocking_orders("KRW-BTC", live.account) == [order]

    order_ops.orders_reconcile(live, account=live.account)

    order.refresh_from_db()
    assert order.status == Order.Status.ABSENT
    assert order_ops.blocking_orders("KRW-BTC", live.account) == []
    assert sandbox_orders(sandbox) == []


def test_an_order_placed_after_its_client_gave_up_is_adopted_not_declared_absent(live, sandbox):
    """The exchange holds the request, the client times out, and the lookups find nothing yet: three quick
    lookups are not enough to call it ABSENT, because the order is placed later and must be found."""
    sandbox.set_price("100000000")
    slow = live_client(sandbox, read_timeout=0.5)
    sandbox.stall("/v1/orders", method="POST", seconds=2.5)  # placed only after the stall, long after the timeout
    result = order_ops.order_submit(slow, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))
    order = result.order
    assert order.status == Order.Status.UNKNOWN

    for _ in range(order_ops.ABSENT_AFTER_LOOKUPS + 1):
        order_ops.orders_reconcile(live, account=live.account)
    order.refresh_from_db()
    assert order.status == Order.Status.UNKNOWN
    assert order.lookup_attempts == order_ops.ABSENT_AFTER_LOOKUPS + 1
    assert order_ops.blocking_orders("KRW-BTC", live.account) == [order]

    wait_until(lambda: sandbox_orders(sandbox), timeout=5, message="the stalled order was never placed")
    order_ops.orders_reconcile(live, account=live.account)

    order.refresh_from_db()
    assert order.status == Order.Status.DONE
    assert order.fills.count() == 1
    assert [o["identifier"] for o in sandbox_orders(sandbox)] == [order.identifier]
    slow.close()


def test_fills_are_never_counted_twice(live, sandbox):
    sandbox.set_price("100000000")
    result = order_ops.order_submit(live, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))
    count = Fill.objects.count()
    assert count >= 1
    info = live.get_order(uuid=result.order.exchange_uuid)
    from trading import services

    services.order_apply_info(order=result.order, info=info, fee_rate=D("0.0005"))
    services.order_apply_info(order=result.order, info=info, fee_rate=D("0.0005"))
    assert Fill.objects.count() == count


def test_a_trade_recorded_by_another_writer_meanwhile_is_not_counted_twice(live, monkeypatch):
    result = order_ops.order_submit(live, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))
    info = live.get_order(uuid=result.order.exchange_uuid)
    Fill.objects.all().delete()
    FillFactory(order=result.order, trade_id=info.trades[0].uuid)  # written after the read of known trade ids
    from trading import services

    real_filter = Fill.objects.filter
    reads = []

    def stale_read(*args, **kwargs):
        reads.append(kwargs)
        return Fill.objects.none() if len(reads) == 1 else real_filter(*args, **kwargs)

    monkeypatch.setattr(Fill.objects, "filter", stale_read)
    new = services.order_apply_info(order=result.order, info=info, fee_rate=D("0.0005"))
    assert new == []
    assert Fill.objects.filter(order=result.order).count() == 1
    result.order.refresh_from_db()
    assert result.order.status == Order.Status.DONE


def test_a_rate_limited_order_was_not_placed(live, sandbox):
    sandbox.fail_next("/v1/orders", method="POST", status=429, name="too_many_requests", count=10)
    result = order_ops.order_submit(live, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))
    assert not result.placed
    assert result.order.status in (Order.Status.ABSENT, Order.Status.UNKNOWN)
    assert sandbox_orders(sandbox) == []


def test_kill_switch_cancels_open_limit_orders(live, sandbox):
    sandbox.set_price("100000000")
    running()
    # a limit buy far below the market rests on the book
    result = order_ops.order_submit(
        live, market="KRW-BTC", side="buy", ord_type="limit", account=live.account, price=D("50000000"), volume=D("0.0002")
    )
    assert result.order.status == Order.Status.WAIT
    engine = TradingEngine(live)

    engine.failures.trip("test trip", meta={})

    result.order.refresh_from_db()
    assert result.order.status == Order.Status.CANCEL
    state = EngineState.load()
    assert state.state == "ERROR"
    assert state.kill_switch
    assert state.kill_switch_reason == "test trip"
    assert [o["state"] for o in sandbox_orders(sandbox)] == ["cancel"]


def test_a_cancel_requested_in_the_admin_is_carried_out_in_the_next_cycle(live, sandbox):
    from trading import services

    sandbox.set_price("100000000")
    running()
    result = order_ops.order_submit(
        live, market="KRW-BTC", side="buy", ord_type="limit", account=live.account, price=D("50000000"), volume=D("0.0002")
    )
    assert result.order.status == Order.Status.WAIT
    services.order_cancel_request(order_ids=[result.order.pk], actor="admin:operator")

    assert TradingEngine(live).run_cycle().ok

    result.order.refresh_from_db()
    assert result.order.status == Order.Status.CANCEL
    assert [o["state"] for o in sandbox_orders(sandbox)] == ["cancel"]
    cancelled = EngineEvent.objects.filter(kind=EngineEvent.Kind.ORDER_CANCELLED).latest("id")
    assert "requested by admin:operator" in cancelled.message
    assert EngineState.load().state == "RUNNING"


def test_a_placed_orders_fills_are_kept_with_their_events_or_not_at_all(live, sandbox, monkeypatch):
    """The log never shows a fill without the placed order's event (or the reverse): they are one write. When that
    write fails, the order is left missing its fills, and the next cycle's reconcile reads them from the exchange."""
    from django.db import OperationalError

    sandbox.set_price("100000000")

    def database_gone(**_kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(order_ops.events, "order_placed", database_gone)
    with pytest.raises(OperationalError):
        order_ops.order_submit(live, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))
    assert not Fill.objects.exists()
    assert not EngineEvent.objects.filter(kind__in=("order_submitted", "fill")).exists()
    (order,) = order_ops.orders_missing_fills(live.account)  # Upbit said it traded: its trades are still to be read

    monkeypatch.undo()
    fills = order_ops.order_reconcile_one(live, order)
    assert order.status == Order.Status.DONE
    assert order_ops.orders_missing_fills(live.account) == []
    assert [fill.pk for fill in fills] == list(Fill.objects.values_list("pk", flat=True))
    assert len(sandbox_orders(sandbox)) == 1


def test_a_placed_orders_event_counts_the_fills_read_after_it(live, sandbox):
    """Upbit's answer to a new order carries no trades; they are read at once, and the order's event names them."""
    sandbox.set_price("100000000")
    result = order_ops.order_submit(live, market="KRW-BTC", side="buy", ord_type="price", account=live.account, price=D("6000"))
    assert result.new_fills
    submitted = EngineEvent.objects.get(kind="order_submitted")
    fill_events = EngineEvent.objects.filter(kind="fill")
    assert fill_events.count() == len(result.new_fills) == Fill.objects.count()
    assert submitted.id < min(event.id for event in fill_events)
