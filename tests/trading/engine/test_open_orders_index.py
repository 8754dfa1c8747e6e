"""The engine's open-order lookups use the partial index of open orders, whatever the planner's statistics say,
however long the account's history."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import connection

from exchange.factory import account_current
from tests.factories import OrderFactory
from trading.engine import orders as order_ops
from trading.models import Mode, Order

INDEX = "order_open_account_status"
CLOSED = 4000
pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["with statistics", "without statistics"])
def long_history(request) -> list[Order]:
    """Thousands of closed orders of the live account (its whole history) and a few open ones."""
    closed = [
        Order(
            market="KRW-BTC",
            side="buy",
            ord_type=Order.OrdType.PRICE,
            price=Decimal("10000"),
            status=(Order.Status.DONE, Order.Status.CANCEL, Order.Status.REJECTED)[i % 3],
            mode=Mode.LIVE,
            account=account_current(paper=False),
            identifier=f"old-{uuid.uuid4()}",
        )
        for i in range(CLOSED)
    ]
    Order.objects.bulk_create(closed, batch_size=1000)
    open_rows = [
        OrderFactory(status=Order.Status.WAIT, mode=Mode.LIVE),
        OrderFactory(status=Order.Status.UNKNOWN, mode=Mode.LIVE),
        OrderFactory(status=Order.Status.NEW, mode=Mode.PAPER),
    ]
    if request.param:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return open_rows


def plan(queryset) -> str:
    return queryset.order_by().explain()


def test_the_open_orders_of_an_account_are_read_through_the_partial_index(long_history):
    live = account_current(paper=False)
    assert INDEX in plan(order_ops.open_order_rows().filter(account=live))
    assert INDEX in plan(order_ops.open_order_rows().filter(market="KRW-BTC", account=live))
    assert INDEX in plan(order_ops.open_order_rows().filter(status=Order.Status.WAIT, account=live))
    assert {order.status for order in order_ops.open_orders(account=live)} == {"WAIT", "UNKNOWN"}
    assert [order.status for order in order_ops.open_orders("KRW-BTC", account_current(paper=True))] == ["NEW"]


def test_a_status_filter_with_bound_values_is_not_what_the_engine_uses(long_history):
    # SQLite weighs a partial index before the parameters are bound: the condition must be in the SQL text.
    written_out = str(order_ops.open_order_rows().query)
    assert "IN ('NEW', 'WAIT', 'UNKNOWN')" in written_out


def test_the_index_condition_names_exactly_the_open_statuses():
    (index,) = [index for index in Order._meta.indexes if index.name == INDEX]
    assert index.condition.children == [("status__in", list(Order.OPEN_STATUSES))]


def test_literal_in_refuses_anything_but_plain_codes():
    with pytest.raises(ValueError, match="plain codes"):
        str(Order.objects.filter(status__literal_in=["WAIT'); DROP TABLE trading_order; --"]).query)
    with pytest.raises(ValueError, match="plain codes"):
        str(Order.objects.filter(status__literal_in=[]).query)
