"""Upbit's answers into typed results, and the values Upbit reads back (decimal strings, `to` times).

Upbit speaks bid/ask, decimal strings or JSON numbers, and KST timestamps without a zone on some
endpoints; everything returned here is `exchange.types` with buy/sell, Decimals and UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from exchange.exceptions import InvalidRequest
from exchange.redact import mask_secrets
from exchange.types import (
    ZERO,
    ApiKeyInfo,
    Balance,
    Candle,
    Instrument,
    OrderBook,
    OrderBookLevel,
    OrderChance,
    OrderInfo,
    SideName,
    Ticker,
    Trade,
)

KST = timezone(timedelta(hours=9), "KST")

_SIDE_FROM_WIRE: dict[str, SideName] = {"bid": "buy", "ask": "sell"}


def _dec(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value))
    else:
        number = Decimal(str(value).strip())
    # "NaN" and "Infinity" parse as Decimals but would break every later comparison with InvalidOperation.
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _dec_or_none(value: Any) -> Decimal | None:
    return None if value is None or value == "" else _dec(value)


def _dec_or_zero(value: Any) -> Decimal:
    return ZERO if value is None or value == "" else _dec(value)


def _ms_to_utc(ms: Any) -> datetime:
    millis = int(ms)
    return datetime.fromtimestamp(millis // 1000, tz=UTC) + timedelta(milliseconds=millis % 1000)


def _parse_time(value: str, *, naive_zone: timezone) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_zone)
    return moment.astimezone(UTC)


def format_to(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise InvalidRequest("`to` must be a timezone-aware datetime", name="validation_error")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ticker(item: dict[str, Any]) -> Ticker:
    return Ticker(
        market=item["market"],
        trade_price=_dec(item["trade_price"]),
        timestamp=_ms_to_utc(item.get("trade_timestamp") or item["timestamp"]),
        opening_price=_dec_or_zero(item.get("opening_price")),
        high_price=_dec_or_zero(item.get("high_price")),
        low_price=_dec_or_zero(item.get("low_price")),
        prev_closing_price=_dec_or_zero(item.get("prev_closing_price")),
        acc_trade_volume_24h=_dec_or_zero(item.get("acc_trade_volume_24h")),
    )


def parse_candles(items: Iterable[dict[str, Any]], *, unit: int) -> list[Candle]:
    """Upbit lists candles newest first; the interface promises oldest first."""
    candles = [
        Candle(
            market=item["market"],
            unit=unit,
            start=_parse_time(item["candle_date_time_utc"], naive_zone=UTC),
            open=_dec(item["opening_price"]),
            high=_dec(item["high_price"]),
            low=_dec(item["low_price"]),
            close=_dec(item["trade_price"]),
            volume=_dec_or_zero(item.get("candle_acc_trade_volume")),
            value=_dec_or_zero(item.get("candle_acc_trade_price")),
        )
        for item in items
    ]
    candles.sort(key=lambda candle: candle.start)
    return candles


def parse_orderbook(item: dict[str, Any]) -> OrderBook:
    return OrderBook(
        market=item["market"],
        timestamp=_ms_to_utc(item["timestamp"]),
        levels=tuple(
            OrderBookLevel(
                ask_price=_dec(unit["ask_price"]),
                ask_size=_dec(unit["ask_size"]),
                bid_price=_dec(unit["bid_price"]),
                bid_size=_dec(unit["bid_size"]),
            )
            for unit in item.get("orderbook_units") or ()
        ),
    )


def parse_instrument(item: dict[str, Any]) -> Instrument:
    tick = _dec(item["tick_size"])
    if tick <= 0:
        raise ValueError(f"tick_size must be positive: {item['tick_size']!r}")
    return Instrument(
        market=item["market"],
        quote_currency=item.get("quote_currency") or item["market"].partition("-")[0],
        tick_size=tick,
        supported_levels=tuple(_dec(level) for level in item.get("supported_levels") or ()),
    )


def parse_api_key(item: dict[str, Any], *, access_key: str) -> ApiKeyInfo:
    return ApiKeyInfo(
        expire_at=_parse_time(item["expire_at"], naive_zone=KST),
        matches_configured_key=bool(access_key) and item.get("access_key") == access_key,
    )


def parse_balance(item: dict[str, Any]) -> Balance:
    return Balance(
        currency=item["currency"],
        balance=_dec_or_zero(item.get("balance")),
        locked=_dec_or_zero(item.get("locked")),
        avg_buy_price=_dec_or_zero(item.get("avg_buy_price")),
        unit_currency=item.get("unit_currency") or "KRW",
    )


def parse_order_chance(data: Any, *, market: str) -> OrderChance:
    """Newer docs answer one object, older ones a one-item array: accept both."""
    if isinstance(data, list):
        if len(data) != 1:
            raise ValueError(f"expected one order-chance entry, got {len(data)}")
        data = data[0]
    info = data.get("market") or {}
    bid_rules = info.get("bid") or {}
    ask_rules = info.get("ask") or {}
    min_totals = [_dec(rules["min_total"]) for rules in (bid_rules, ask_rules) if rules.get("min_total") not in (None, "")]
    quote, _, base = market.partition("-")
    return OrderChance(
        market=info.get("id") or market,
        bid_fee=_dec(data["bid_fee"]),
        ask_fee=_dec(data["ask_fee"]),
        min_total=max(min_totals) if min_totals else Decimal("5000"),
        max_total=_dec_or_zero(info.get("max_total")),
        bid_account=parse_balance(data.get("bid_account") or {"currency": bid_rules.get("currency") or quote}),
        ask_account=parse_balance(data.get("ask_account") or {"currency": ask_rules.get("currency") or base}),
        state=str(info.get("state") or "active"),
    )


def parse_trade(item: dict[str, Any], *, market: str) -> Trade:
    return Trade(
        uuid=item["uuid"],
        market=item.get("market") or market,
        side=_SIDE_FROM_WIRE[item["side"]],
        price=_dec(item["price"]),
        volume=_dec(item["volume"]),
        funds=_dec(item["funds"]) if item.get("funds") not in (None, "") else _dec(item["price"]) * _dec(item["volume"]),
        created_at=_parse_time(item["created_at"], naive_zone=KST),
    )


def parse_order(item: dict[str, Any], *, secrets: Iterable[str] = ()) -> OrderInfo:
    """One order in Upbit's shape. Optional fields (`price`, `volume`, `remaining_volume`,
    `identifier`, `trades`, `executed_funds`) may be absent depending on the order type and endpoint."""
    market = item["market"]
    trades = tuple(parse_trade(trade, market=market) for trade in item.get("trades") or ())
    return OrderInfo(
        uuid=item["uuid"],
        market=market,
        side=_SIDE_FROM_WIRE[item["side"]],
        ord_type=item["ord_type"],
        state=item["state"],
        created_at=_parse_time(item["created_at"], naive_zone=KST),
        identifier=item.get("identifier") or None,
        price=_dec_or_none(item.get("price")),
        volume=_dec_or_none(item.get("volume")),
        remaining_volume=_dec_or_none(item.get("remaining_volume")),
        executed_volume=_dec_or_zero(item.get("executed_volume")),
        executed_funds=_dec_or_none(item.get("executed_funds")),
        reserved_fee=_dec_or_zero(item.get("reserved_fee")),
        remaining_fee=_dec_or_zero(item.get("remaining_fee")),
        paid_fee=_dec_or_zero(item.get("paid_fee")),
        locked=_dec_or_zero(item.get("locked")),
        trades_count=int(item.get("trades_count") or len(trades)),
        trades=trades,
        raw=mask_secrets(_jsonable(item), secrets),
    )


def _jsonable(value: Any) -> Any:
    """Decimals from `parse_float=Decimal` back to strings, so `raw` can be stored in a JSON field."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
