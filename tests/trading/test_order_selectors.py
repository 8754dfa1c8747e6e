"""Reads of the recent orders with their fills (trading/order_selectors.py)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from tests.factories import FillFactory, OrderFactory
from trading import order_selectors
from trading.models import Order

pytestmark = pytest.mark.django_db


def test_the_recent_orders_carry_their_own_fills_only(django_assert_num_queries):
    now = timezone.now()
    older = OrderFactory(ts=now - timedelta(minutes=3))
    same_time_lower_id = OrderFactory(ts=now - timedelta(minutes=2))
    oldest_listed = OrderFactory(ts=now - timedelta(minutes=2))
    newest = OrderFactory(ts=now - timedelta(minutes=1))
    for order, count in ((older, 1), (same_time_lower_id, 2), (oldest_listed, 2), (newest, 1)):
        for index in range(count):
            FillFactory(order=order, ts=order.ts + timedelta(seconds=10 - index), trade_id=f"{order.pk}-{index}")
    with django_assert_num_queries(2):
        rows = order_selectors.orders_recent_rows(limit=2)
    assert [row["id"] for row in rows] == [newest.pk, oldest_listed.pk]
    assert [fill["trade_id"] for fill in rows[1]["fills"]] == [f"{oldest_listed.pk}-1", f"{oldest_listed.pk}-0"]
    assert [fill["trade_id"] for fill in rows[0]["fills"]] == [f"{newest.pk}-0"]
    assert set(rows[0]["fills"][0]) == {"trade_id", "price", "volume", "funds", "fee", "ts"}
    assert order_selectors.orders_recent_rows(limit=0) == []
    Order.objects.filter(pk=newest.pk).update(ts=now)
    assert order_selectors.orders_recent_rows(limit=1)[0]["fills"][0]["trade_id"] == f"{newest.pk}-0"


def test_the_api_rows_carry_their_times_as_the_apis_text(django_assert_num_queries):
    ts = timezone.now().replace(microsecond=123999)
    order = OrderFactory(ts=ts)
    FillFactory(order=order, ts=ts.replace(microsecond=0))
    with django_assert_num_queries(2):
        (row,) = order_selectors.orders_recent_api_rows(limit=5)
    assert "ts" not in row
    assert "updated_at" not in row
    assert row["ts_text"] == ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.123Z")
    assert row["fills"][0]["ts_text"] == ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert order_selectors.orders_recent_api_rows(limit=0) == []
