"""Reads of the recent orders with their fills, as plain rows: the dashboard's order table and the API's order list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import CharField, Func

from exchange.redact import mask_configured_secrets
from trading.models import Fill, Order

ORDER_ROW_FIELDS = (
    "id",
    "identifier",
    "exchange_uuid",
    "market",
    "side",
    "ord_type",
    "status",
    "mode",
    "price",
    "volume",
    "executed_volume",
    "executed_funds",
    "paid_fee",
    "reason",
    "error_name",
    "error_message",
    "ts",
    "updated_at",
)
FILL_ROW_FIELDS = ("order_id", "trade_id", "price", "volume", "funds", "fee", "ts")


class UtcMillisText(Func):
    """A timestamp column as the API writes it, 2026-01-02T03:04:05.678Z (UTC, milliseconds cut, not rounded),
    written by the database: a long list's thousands of datetimes cost more to convert in the driver than to
    print there. Only PostgreSQL and SQLite are supported (autocoin/settings.py refuses others)."""

    arity = 1
    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC (no fraction when it is zero).
        column = "%(expressions)s"
        template = (
            f"(substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || '.'"
            f" || substr(substr({column}, 21) || '000', 1, 3) || 'Z')"
        )
        return self.as_sql(compiler, connection, template=template, **extra)


def _orders_with_fills(orders: list[dict[str, Any]], fills_since: Any, fill_fields: tuple[str, ...]) -> None:
    """Put each order's fills (oldest first) under "fills". `fills_since` is the fills of every order from the
    oldest listed one on, as `values_list("order_id", *fill_fields)`: one bound instead of hundreds of ids to bind,
    and still only the orders listed (not one placed in between)."""
    fills: dict[int, list[dict[str, Any]]] = {order["id"]: [] for order in orders}
    for order_id, *values in fills_since:
        listed = fills.get(order_id)
        if listed is not None:
            listed.append(dict(zip(fill_fields, values, strict=True)))
    for order in orders:
        order["fills"] = fills[order["id"]]
        if order["error_message"]:  # rows are masked when written; this guards older rows
            order["error_message"] = mask_configured_secrets(order["error_message"])


def orders_recent_rows(*, limit: int) -> list[dict[str, Any]]:
    """The latest orders as plain dicts, each with its fills under "fills" (two queries, no model objects)."""
    orders = list(Order.objects.order_by("-ts", "-id").values(*ORDER_ROW_FIELDS)[:limit])
    if orders:
        since = Fill.objects.filter(order__ts__gte=orders[-1]["ts"]).order_by("ts", "id")
        _orders_with_fills(orders, since.values_list(*FILL_ROW_FIELDS), FILL_ROW_FIELDS[1:])
    return orders


def orders_recent_api_rows(*, limit: int) -> list[dict[str, Any]]:
    """`orders_recent_rows` with its times as the API's text: "ts_text" and "updated_at_text" instead of "ts" and
    "updated_at", and each fill's "ts_text" instead of "ts"."""
    fields = tuple(name for name in ORDER_ROW_FIELDS if name not in ("ts", "updated_at"))
    newest = Order.objects.order_by("-ts", "-id").values(
        *fields, ts_text=UtcMillisText("ts"), updated_at_text=UtcMillisText("updated_at")
    )
    orders = list(newest[:limit])
    if orders:
        # The text is cut to the millisecond, so the bound is at or before the oldest order: never one too few.
        oldest = datetime.fromisoformat(orders[-1]["ts_text"])
        since = Fill.objects.filter(order__ts__gte=oldest).order_by("ts", "id")
        fill_fields = tuple(name for name in FILL_ROW_FIELDS[1:] if name != "ts")
        _orders_with_fills(orders, since.values_list("order_id", *fill_fields, UtcMillisText("ts")), (*fill_fields, "ts_text"))
    return orders
