"""The chaos soak's audit finds each kind of disagreement between our books and the exchange, and only those."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.soak_audit import run_audit
from tests.factories import BalanceSnapshotFactory, FillFactory, OrderFactory, SignalFactory
from trading.engine.pnl import pnl_rebuild
from trading.models import Fill, Mode, Order, PnlDaily

pytestmark = pytest.mark.django_db
D = Decimal


def exchange_order(order: Order, *, state: str = "done", trades: list[Fill] | None = None) -> dict:
    fills = list(order.fills.all()) if trades is None else trades
    return {
        "uuid": order.exchange_uuid,
        "identifier": order.identifier,
        "ord_type": order.ord_type,
        "state": state,
        "executed_volume": str(order.executed_volume),
        "trades": [{"uuid": fill.trade_id, "volume": str(fill.volume)} for fill in fills],
    }


@pytest.fixture
def books() -> dict:
    """Two filled live orders, their fills, the day's PnL and a snapshot, exactly as the exchange has them."""
    orders = []
    for side, volume in (("buy", D("0.0002")), ("sell", D("0.0001"))):
        order = OrderFactory(mode=Mode.LIVE, side=side, executed_volume=volume, signal=SignalFactory())
        FillFactory(order=order, volume=volume, price=D("100000000") if side == "buy" else D("101000000"))
        orders.append(order)
    pnl_rebuild()
    BalanceSnapshotFactory(mode=Mode.LIVE, krw=D("990000"), coin_volume=D("0.0001"))
    return {
        "orders": [exchange_order(order) for order in orders],
        "balances": {"KRW": {"balance": "989000", "locked": "1000"}, "BTC": {"balance": "0.0001", "locked": "0"}},
    }


def test_books_that_agree_with_the_exchange_pass(books):
    audit = run_audit(books, "BTC")
    assert len(audit.counts) == 12
    assert not any(audit.counts.values()), audit.notes
    assert audit.figures["exchange_orders"] == audit.figures["exchange_trades"] == audit.figures["our_fills"] == 2


def test_an_exchange_order_we_do_not_know_is_counted(books):
    books["orders"].append({"uuid": "x-1", "identifier": "ac-unknown", "state": "done", "executed_volume": "0", "trades": []})
    audit = run_audit(books, "BTC")
    assert audit.counts["unknown_exchange_orders"] == 1
    assert "ac-unknown" in " ".join(audit.notes)


def test_a_trade_without_its_fill_and_a_fill_without_its_trade_are_counted(books):
    extra = {"uuid": "trade-lost", "volume": "0.0001"}
    books["orders"][0]["trades"].append(extra)
    Fill.objects.filter(order__side="sell").update(trade_id="trade-made-up")
    audit = run_audit(books, "BTC")
    assert audit.counts["lost_fills"] == 2  # the extra trade, and the sell's real trade
    assert audit.counts["phantom_fills"] == 1


def test_an_order_declared_absent_but_placed_is_counted(books):
    Order.objects.filter(side="sell").update(status=Order.Status.ABSENT)
    audit = run_audit(books, "BTC")
    assert audit.counts["placed_orders_marked_absent"] == 1


def test_one_intent_placed_twice_is_counted(books):
    Order.objects.update(signal=Order.objects.first().signal)
    audit = run_audit(books, "BTC")
    assert audit.counts["duplicate_orders_for_one_intent"] == 1


def test_a_market_buy_ending_cancel_with_volume_is_filled_not_a_mismatch(books):
    Order.objects.filter(side="buy").update(ord_type=Order.OrdType.PRICE)
    books["orders"][0].update(state="cancel", ord_type="price")
    assert run_audit(books, "BTC").counts["order_state_mismatches"] == 0
    books["orders"][0]["executed_volume"] = "0.00019"
    assert run_audit(books, "BTC").counts["order_state_mismatches"] == 1


def test_balances_that_differ_from_the_last_snapshot_are_counted(books):
    books["balances"]["BTC"]["locked"] = "0.00000001"
    audit = run_audit(books, "BTC")
    assert audit.counts["balance_mismatches"] == 1


def test_daily_pnl_a_won_off_the_rebuild_is_counted(books):
    PnlDaily.objects.filter(mode=Mode.LIVE).update(realized=D("1"))
    audit = run_audit(books, "BTC")
    assert audit.counts["pnl_mismatches"] == 1
