"""The sandbox's market and account data as Upbit's WebSocket messages (DEFAULT field names):
ticker, trade, orderbook and candles from the price feed and book; myOrder and myAsset from the
ledger. `exchange.sandbox.ws_messages` turns them into SIMPLE or LIST frames."""

from __future__ import annotations

import random
import uuid as uuidlib
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from exchange.sandbox.auth import Verifier
from exchange.sandbox.feed import MarketFeed, moment_of, seconds_of
from exchange.sandbox.ledger import KST, Fill, Ledger, Order
from exchange.sandbox.prices import quantize8
from exchange.sandbox.ratelimit import RateLimiter
from exchange.types import ZERO, OrderBookLevel


class Exchange(Protocol):
    """What the WebSocket side reads from the sandbox."""

    markets: tuple[str, ...]
    feeds: dict[str, MarketFeed]
    ledger: Ledger
    verifier: Verifier
    limiter: RateLimiter
    seed: int

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def now(self) -> datetime: ...

    def current_price(self, market: str, seconds: float) -> Decimal: ...

    def book(self, market: str, seconds: float) -> list[OrderBookLevel]: ...

    def sweep(self) -> None: ...

    def ticker_row(self, market: str, now: datetime) -> dict[str, Any]: ...


def _ms(moment: datetime) -> int:
    return int(seconds_of(moment) * 1000)


def ticker(row: dict[str, Any], market: str, ask_bid: str, stream_type: str) -> dict[str, Any]:
    """A ticker message from the REST ticker's row."""
    volume = row["acc_trade_volume"]
    ask_volume = quantize8(volume / 2)
    message: dict[str, Any] = {"type": "ticker", "code": market}
    for name in (
        "opening_price",
        "high_price",
        "low_price",
        "trade_price",
        "prev_closing_price",
        "change",
        "change_price",
        "signed_change_price",
        "change_rate",
        "signed_change_rate",
        "trade_volume",
        "acc_trade_volume",
        "acc_trade_volume_24h",
        "acc_trade_price",
        "acc_trade_price_24h",
        "trade_date",
        "trade_time",
        "trade_timestamp",
    ):
        message[name] = row[name]
    message.update(
        ask_bid=ask_bid,
        acc_ask_volume=ask_volume,
        acc_bid_volume=volume - ask_volume,
        highest_52_week_price=row["highest_52_week_price"],
        highest_52_week_date=row["highest_52_week_date"],
        lowest_52_week_price=row["lowest_52_week_price"],
        lowest_52_week_date=row["lowest_52_week_date"],
        market_state="ACTIVE",
        is_trading_suspended=False,
        delisting_date=None,
        market_warning="NONE",
        timestamp=row["trade_timestamp"],
        stream_type=stream_type,
    )
    return message


def trade(
    market: str,
    *,
    price: Decimal,
    volume: Decimal,
    ask_bid: str,
    prev_close: Decimal,
    moment: datetime,
    sequential_id: int,
    top: OrderBookLevel | None,
    stream_type: str,
) -> dict[str, Any]:
    utc = moment.astimezone(UTC)
    ms = _ms(moment)
    change = price - prev_close
    return {
        "type": "trade",
        "code": market,
        "timestamp": ms,
        "trade_date": utc.strftime("%Y-%m-%d"),
        "trade_time": utc.strftime("%H:%M:%S"),
        "trade_timestamp": ms,
        "trade_price": price,
        "trade_volume": volume,
        "ask_bid": ask_bid,
        "prev_closing_price": prev_close,
        "change": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
        "change_price": abs(change),
        "sequential_id": sequential_id,
        "best_ask_price": top.ask_price if top else price,
        "best_ask_size": top.ask_size if top else ZERO,
        "best_bid_price": top.bid_price if top else price,
        "best_bid_size": top.bid_size if top else ZERO,
        "stream_type": stream_type,
    }


def tape_volume(seed: int, market: str, sequential_id: int) -> Decimal:
    """A repeatable trade size for a price move of the walk (the sandbox has no other traders)."""
    rng = random.Random(f"{seed}:{market}:ws-trade:{sequential_id}")  # noqa: S311 - seeded, repeatable tape
    return quantize8(Decimal(repr(rng.expovariate(1 / 0.02)))) + Decimal("0.00000001")


def orderbook(market: str, levels: list[OrderBookLevel], depth: int, moment: datetime, stream_type: str) -> dict[str, Any]:
    units = levels[:depth]
    return {
        "type": "orderbook",
        "code": market,
        "timestamp": _ms(moment),
        "total_ask_size": sum((u.ask_size for u in units), ZERO),
        "total_bid_size": sum((u.bid_size for u in units), ZERO),
        "orderbook_units": [
            {"ask_price": u.ask_price, "bid_price": u.bid_price, "ask_size": u.ask_size, "bid_size": u.bid_size} for u in units
        ],
        "level": Decimal(0),
        "stream_type": stream_type,
    }


def candle(
    kind: str,
    market: str,
    start: float,
    prices: tuple[Decimal, Decimal, Decimal, Decimal],
    volume: Decimal,
    value: Decimal,
    moment: datetime,
    stream_type: str,
) -> dict[str, Any]:
    """A candle message; `start` is the candle's first second (epoch), `prices` its open, high, low, close."""
    begins = moment_of(start)
    return {
        "type": kind,
        "code": market,
        "candle_date_time_utc": begins.strftime("%Y-%m-%dT%H:%M:%S"),
        "candle_date_time_kst": begins.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S"),
        "opening_price": prices[0],
        "high_price": prices[1],
        "low_price": prices[2],
        "trade_price": prices[3],
        "candle_acc_trade_volume": volume,
        "candle_acc_trade_price": value,
        "timestamp": _ms(moment),
        "stream_type": stream_type,
    }


def my_order(order: Order, moment: datetime, *, fill: Fill | None = None, state: str | None = None) -> dict[str, Any]:
    """A myOrder message: the order as it stands, or one of its fills (state `trade`), or as placed (`wait`)."""
    placed = state == "wait" and fill is None
    executed = ZERO if placed else order.executed_volume
    funds = ZERO if placed else order.executed_funds
    volume = order.volume
    remaining = volume if placed else order.remaining_volume
    return {
        "type": "myOrder",
        "code": order.market,
        "uuid": order.uuid,
        "ask_bid": "BID" if order.side == "bid" else "ASK",
        "order_type": order.ord_type,
        "state": state or order.state,
        "trade_uuid": fill.uuid if fill else None,
        "price": fill.price if fill else order.price,
        "avg_price": (funds / executed).quantize(Decimal("0.00000001")) if executed else ZERO,
        "volume": fill.volume if fill else volume,
        "remaining_volume": remaining,
        "executed_volume": executed,
        "trades_count": 0 if placed else len(order.fills),
        "reserved_fee": order.reserved_fee,
        "remaining_fee": order.reserved_fee if placed else order.remaining_fee,
        "paid_fee": ZERO if placed else order.paid_fee,
        "locked": order.locked,
        "executed_funds": funds,
        "time_in_force": order.time_in_force,
        "trade_fee": fill.fee if fill else None,
        "is_maker": (fill.created_at > order.created_at) if fill else None,
        "identifier": order.identifier,
        "smp_type": order.smp_type,
        "prevented_volume": ZERO,
        "prevented_locked": ZERO,
        "trade_timestamp": _ms(fill.created_at) if fill else None,
        "order_timestamp": _ms(order.created_at),
        "timestamp": _ms(moment),
        "stream_type": "REALTIME",
    }


def my_asset(assets: list[tuple[str, Decimal, Decimal]], moment: datetime) -> dict[str, Any]:
    ms = _ms(moment)
    return {
        "type": "myAsset",
        "asset_uuid": str(uuidlib.uuid4()),
        "assets": [{"currency": c, "balance": b, "locked": locked} for c, b, locked in assets],
        "asset_timestamp": ms,
        "timestamp": ms,
        "stream_type": "REALTIME",
    }
