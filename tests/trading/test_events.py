"""The audit log: one function per kind of event, each writing one row that reads the same everywhere,
with secrets masked and the engine's state at the time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.exceptions import RateLimited
from tests.factories import FillFactory, ManualOrderRequestFactory, OrderFactory
from trading import events
from trading.models import EngineEvent, EngineState, Order

Kind = EngineEvent.Kind
Level = EngineEvent.Level
pytestmark = pytest.mark.django_db


def market_buy() -> Order:
    return OrderFactory(identifier="ac-1", side="buy", ord_type=Order.OrdType.PRICE, price=Decimal("10000"), volume=None)


CASES = {
    "state_changed": (
        lambda: events.state_changed(old="IDLE", new="RUNNING", actor="user:alice", reason="morning"),
        (Kind.STATE_CHANGED, Level.INFO, "user:alice", "IDLE → RUNNING by user:alice: morning"),
    ),
    "state_changed_to_error": (
        lambda: events.state_changed(old="RUNNING", new="ERROR", actor="engine", reason=""),
        (Kind.STATE_CHANGED, Level.ERROR, "engine", "RUNNING → ERROR by engine"),
    ),
    "config_changed": (
        lambda: events.config_changed(actor="admin:root", what="strategy macd parameters", old={}, new={"fast": 5}),
        (Kind.CONFIG_CHANGED, Level.INFO, "admin:root", "strategy macd parameters changed by admin:root"),
    ),
    "manual_order_queued": (
        lambda: events.manual_order_queued(request=ManualOrderRequestFactory(krw=Decimal("20000")), actor="user:bob"),
        (Kind.MANUAL_ORDER, Level.INFO, "user:bob", "Manual order queued by user:bob: buy 20000 KRW on KRW-BTC"),
    ),
    "manual_order_rejected": (
        lambda: events.manual_order_rejected(request_id=7, problem="no coin to sell"),
        (Kind.MANUAL_ORDER, Level.WARNING, "engine", "Manual order #7 rejected: no coin to sell"),
    ),
    "cancel_requested": (
        lambda: events.cancel_requested(actor="admin:root", order_ids=list(range(7)), identifiers=[f"ac-{n}" for n in range(7)]),
        (
            Kind.MANUAL_ORDER,
            Level.INFO,
            "admin:root",
            "Cancel requested by admin:root for 7 open order(s): ac-0, ac-1, ac-2, ac-3, ac-4 and 2 more",
        ),
    ),
    "paper_account_reset": (
        lambda: events.paper_account_reset(
            actor="admin:root", state="IDLE", initial_krw=Decimal("1000000"), cancelled_orders=2, previous={}
        ),
        (
            Kind.PAPER_RESET,
            Level.INFO,
            "admin:root",
            "Paper account reset by admin:root to 1,000,000 KRW (2 open paper order(s) cancelled)",
        ),
    ),
    "history_pruned": (
        lambda: events.history_pruned(actor="prune", days=30, counts={"events": 5, "hold_signals": 3, "snapshots": 1}),
        (
            Kind.CONFIG_CHANGED,
            Level.INFO,
            "prune",
            "History older than 30 days pruned: 5 events, 3 HOLD signals, 1 balance snapshots",
        ),
    ),
    "engine_claimed": (
        lambda: events.engine_claimed(owner="host:2", previous_owner="", takeover=False),
        (Kind.ENGINE_CLAIMED, Level.INFO, "engine", "Engine process host:2 started"),
    ),
    "engine_taken_over": (
        lambda: events.engine_claimed(owner="host:2", previous_owner="host:1", takeover=True),
        (Kind.ENGINE_CLAIMED, Level.INFO, "engine", "Engine process host:2 took over from host:1"),
    ),
    "engine_refused": (
        lambda: events.engine_refused(owner="host:2", running_owner="host:1", heartbeat_age_sec=1.25),
        (Kind.ENGINE_REFUSED, Level.WARNING, "engine", "host:1 is already running (last heartbeat 1.2 s ago)"),
    ),
    "engine_released": (
        lambda: events.engine_released(owner="host:1", reason="SIGTERM"),
        (Kind.ENGINE_RELEASED, Level.INFO, "engine", "Engine process host:1 exited: SIGTERM"),
    ),
    "order_intent": (
        lambda: events.order_intent(order=market_buy(), reason="strategy BUY"),
        (Kind.ORDER_INTENT, Level.INFO, "engine", "Order intent: buy price 10,000 KRW on KRW-BTC (strategy BUY)"),
    ),
    "order_submitted": (
        lambda: events.order_submitted(order=market_buy()),
        (Kind.ORDER_SUBMITTED, Level.INFO, "engine", "Order placed: buy price 10,000 KRW on KRW-BTC → DONE"),
    ),
    "order_rejected": (
        lambda: events.order_rejected(order=market_buy(), message="Order rejected by the exchange: too small"),
        (Kind.ORDER_REJECTED, Level.WARNING, "engine", "Order rejected by the exchange: too small"),
    ),
    "order_unknown": (
        lambda: events.order_unknown(order=market_buy(), error=RateLimited("slow down")),
        (Kind.ORDER_UNKNOWN, Level.WARNING, "engine", "Order outcome unknown (RateLimited: slow down); no new order on KRW-BTC"),
    ),
    "order_reconciled": (
        lambda: events.order_reconciled(order=market_buy(), message="Order ac-1 updated: WAIT → DONE, 1 new fill(s)"),
        (Kind.ORDER_RECONCILED, Level.INFO, "engine", "Order ac-1 updated: WAIT → DONE, 1 new fill(s)"),
    ),
    "reconciliation_finished": (
        lambda: events.reconciliation_finished(checked=3, resolved=2, still_unknown=1, fills_recovered=4),
        (
            Kind.ORDER_RECONCILED,
            Level.INFO,
            "engine",
            "Start-up reconciliation: 3 open order(s) checked, 2 settled, 1 still unknown, 4 fill(s) recovered",
        ),
    ),
    "order_cancelled": (
        lambda: events.order_cancelled(order=market_buy(), message="Order ac-1 cancelled: kill-switch"),
        (Kind.ORDER_CANCELLED, Level.INFO, "engine", "Order ac-1 cancelled: kill-switch"),
    ),
    "fill_recorded": (
        lambda: events.fill_recorded(
            fill=FillFactory(order=market_buy(), price=Decimal("100000000"), volume=Decimal("0.0001"), fee=Decimal("5"))
        ),
        (Kind.FILL, Level.INFO, "engine", "Fill: buy 0.0001 KRW-BTC @ 100,000,000 KRW (fee 5 KRW)"),
    ),
    "exchange_error": (
        lambda: events.exchange_error(error=RateLimited("429"), step="reading the ticker", failures=2, retry_in_sec=1.5),
        (
            Kind.EXCHANGE_ERROR,
            Level.WARNING,
            "engine",
            "Exchange error while reading the ticker: 429 (consecutive failures: 2); retrying in 1.5 s",
        ),
    ),
    "order_rules_unavailable": (
        lambda: events.order_rules_unavailable(error=RateLimited("429")),
        (
            Kind.EXCHANGE_ERROR,
            Level.WARNING,
            "engine",
            "Order rules unavailable (429); using Upbit's KRW fee 0.05% and minimum 5,000 KRW",
        ),
    ),
    "order_shrunk": (
        lambda: events.order_shrunk(reason="12,000 KRW fits within 0.5%", meta={"rule": "slippage"}),
        (Kind.RISK_BLOCKED, Level.WARNING, "engine", "Order shrunk by the slippage limit: 12,000 KRW fits within 0.5%"),
    ),
    "kill_switch_tripped": (
        lambda: events.kill_switch_tripped(reason="daily loss limit"),
        (Kind.KILL_SWITCH, Level.ERROR, "engine", "Kill-switch tripped: daily loss limit"),
    ),
    "risk_blocked": (
        lambda: events.risk_blocked(action="BUY", reasons=["cooldown", "max order"], source="macd"),
        (Kind.RISK_BLOCKED, Level.INFO, "engine", "BUY from macd blocked by the risk gate: cooldown; max order"),
    ),
    "pnl_reported": (
        lambda: events.pnl_reported(message="Daily PnL: +1,000 KRW", day="2026-12-05", total=Decimal("1000")),
        (Kind.PNL, Level.INFO, "engine", "Daily PnL: +1,000 KRW"),
    ),
    "engine_error": (
        lambda: events.engine_error(message="the trading thread stopped"),
        (Kind.ERROR, Level.ERROR, "engine", "the trading thread stopped"),
    ),
    "notification_failed": (
        lambda: events.notification_failed(channel="telegram", error="timeout"),
        (Kind.NOTIFICATION, Level.WARNING, "engine", "Notification via telegram failed: timeout"),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_each_kind_of_event_writes_one_row(name):
    record, (kind, level, actor, message) = CASES[name]
    event = record()
    assert EngineEvent.objects.get() == event
    assert (event.kind, event.level, event.actor) == (kind, level, actor)
    assert message in event.message


def test_an_event_records_the_engines_state_at_the_time():
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=EngineState.State.RUNNING)
    assert events.engine_error(message="boom").state == EngineState.State.RUNNING
    # A change of state records the state it moved to.
    assert events.state_changed(old="RUNNING", new="STOPPING", actor="engine", reason="").state == "STOPPING"


def test_an_event_reads_the_state_in_its_own_insert(django_assert_num_queries):
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=EngineState.State.STOPPING)
    with django_assert_num_queries(1):
        event = events.engine_error(message="boom")
    assert EngineEvent.objects.get(pk=event.pk).state == EngineState.State.STOPPING
    EngineState.objects.all().delete()
    assert EngineEvent.objects.get(pk=events.engine_error(message="no state row").pk).state == ""


def test_a_placed_order_and_its_fills_are_written_in_one_insert_in_order(django_assert_num_queries, caplog):
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=EngineState.State.RUNNING)
    order = OrderFactory(side="buy")
    fills = [FillFactory(order=order, volume=Decimal("0.0001")), FillFactory(order=order, volume=Decimal("0.00005"))]

    with django_assert_num_queries(1):
        written = events.order_placed(order=order, fills=fills)

    rows = list(EngineEvent.objects.order_by("id"))
    assert [row.kind for row in rows] == [EngineEvent.Kind.ORDER_SUBMITTED, EngineEvent.Kind.FILL, EngineEvent.Kind.FILL]
    assert [row.pk for row in rows] == [event.pk for event in written]
    assert {row.state for row in rows} == {EngineState.State.RUNNING}
    assert [row.meta["trade_id"] for row in rows[1:]] == [fill.trade_id for fill in fills]
    assert rows[1].meta["volume"] == "0.0001"
    assert all(row.meta["order_id"] == order.pk for row in rows)
    assert [record.getMessage().split(":")[0] for record in caplog.records if record.name == "autocoin.events"] == [
        "order_submitted",
        "fill",
        "fill",
    ]


def test_a_placed_order_without_fills_writes_its_own_event_only():
    order = OrderFactory()
    assert [event.kind for event in events.order_placed(order=order, fills=[])] == [EngineEvent.Kind.ORDER_SUBMITTED]
    assert EngineEvent.objects.count() == 1


def test_secrets_never_reach_the_log(settings):
    settings.UPBIT_SECRET_KEY = "very-secret-upbit-key-123"
    event = events.engine_error(
        message="signing with very-secret-upbit-key-123 failed", meta={"key": "very-secret-upbit-key-123"}
    )
    event.refresh_from_db()
    assert "very-secret-upbit-key-123" not in event.message
    assert "very-secret-upbit-key-123" not in str(event.meta)


def test_meta_keeps_exact_amounts():
    request = ManualOrderRequestFactory(krw=Decimal("12345.67890123"))
    event = events.manual_order_queued(request=request, actor="user:bob")
    event.refresh_from_db()
    assert Decimal(event.meta["krw"]) == Decimal("12345.67890123")
    assert event.meta["request_id"] == request.pk


@pytest.mark.parametrize(
    ("value", "krw", "volume"),
    [
        (Decimal("10000.00000000"), "10,000", "10000"),
        (Decimal("-57802.0412"), "-57,802.04", "-57802.0412"),
        (Decimal("0.00008765"), "0.00008765", "0.00008765"),
        (Decimal("0"), "0", "0"),
        ("n/a", "n/a", "n/a"),
    ],
)
def test_numbers_in_messages(value, krw, volume):
    assert events.krw_text(value) == krw
    assert events.volume_text(value) == volume
