"""The API's text of numbers (decimal_text: exact, never scientific, trailing zeros dropped) and of the order list."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import FillFactory, OrderFactory
from trading.api import decimal_text
from trading.models import Order


def _reference(value: Decimal) -> str:
    """The plain definition: the fixed-point text with trailing zeros (and a bare point) removed."""
    if value == 0:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


VALUES = [
    "0", "-0", "0.00000000", "-0.000", "0E-8", "0E+3", "1", "-1", "100", "1E+3", "1.5E+7", "10000.00000000",
    "0.00010000", "0.0000001", "1E-10", "-1E-10", "123456789012345678.123456789", "99950000", "4.99750000",
    "-12.3400", "0.1", "1.000000000000000000001", "NaN", "Infinity", "-Infinity",
]  # fmt: skip


@pytest.mark.parametrize("raw", VALUES)
def test_the_text_is_the_plain_fixed_point_definition(raw):
    assert decimal_text(Decimal(raw)) == _reference(Decimal(raw))


def test_known_texts():
    assert decimal_text(Decimal("10000.00000000")) == "10000"
    assert decimal_text(Decimal("0.00010000")) == "0.0001"
    assert decimal_text(Decimal("1E+3")) == "1000"
    assert decimal_text(Decimal("1E-10")) == "0.0000000001"
    assert decimal_text(Decimal("-0.000")) == "0"


def test_every_exponent_and_sign_agrees_with_the_definition():
    for exponent in range(-30, 31):
        for digits in ("1", "25", "1000", "123456789"):
            for sign in ("", "-"):
                value = Decimal(f"{sign}{digits}E{exponent}")
                assert decimal_text(value) == _reference(value), value


@pytest.mark.django_db
def test_the_recent_orders_are_every_order_field_and_fill_as_written(token_client):
    """The whole list, field by field, against the rows themselves (datetimes as UTC milliseconds with Z)."""
    now = timezone.now().replace(microsecond=999900)  # the milliseconds are cut, not rounded up
    for minute in range(6):
        order = OrderFactory(
            ts=now - timedelta(minutes=minute // 2, microseconds=minute * 1234),  # two orders per instant
            side="sell" if minute % 2 else "buy",
            price=None if minute == 3 else Decimal("100000000.5"),
            volume=Decimal("0.00012300") if minute % 2 else None,
            error_message="boom" if minute == 4 else "",
        )
        for index in range(minute % 3):
            FillFactory(order=order, ts=order.ts + timedelta(seconds=index), price=Decimal(f"9995{index}.10"))
    whole_second = OrderFactory(ts=now.replace(microsecond=0) - timedelta(minutes=10))  # stored without a fraction
    FillFactory(order=whole_second, ts=whole_second.ts)
    Order.objects.filter(pk=whole_second.pk).update(updated_at=whole_second.ts)

    def utc(value):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def number(value):
        return None if value is None else _reference(value)

    expected = [
        {
            "id": order.pk,
            "identifier": order.identifier,
            "exchange_uuid": order.exchange_uuid,
            "market": order.market,
            "side": order.side,
            "ord_type": order.ord_type,
            "status": order.status,
            "mode": order.mode,
            "price": number(order.price),
            "volume": number(order.volume),
            "executed_volume": number(order.executed_volume),
            "executed_funds": number(order.executed_funds),
            "fee": number(order.paid_fee),
            "reason": order.reason,
            "error_name": order.error_name,
            "error_message": order.error_message,
            "created_at": utc(order.ts),
            "updated_at": utc(order.updated_at),
            "fills": [
                {
                    "trade_id": fill.trade_id,
                    "price": number(fill.price),
                    "volume": number(fill.volume),
                    "funds": number(fill.funds),
                    "fee": number(fill.fee),
                    "ts": utc(fill.ts),
                }
                for fill in order.fills.order_by("ts", "id")
            ],
        }
        for order in Order.objects.order_by("-ts", "-id")[:7]
    ]
    assert expected[-1]["created_at"].endswith(".000Z")
    assert expected[-1]["fills"][0]["ts"] == expected[-1]["created_at"]
    assert expected[0]["created_at"].endswith(".999Z")
    answer = token_client.get("/api/orders/recent?limit=7").json()
    assert answer["ok"] is True
    assert answer["data"] == expected
