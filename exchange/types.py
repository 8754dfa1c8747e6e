"""Typed results of the exchange interface: Decimals and aware UTC datetimes, never raw dicts.

Sides are `buy`/`sell` here and everywhere outside `exchange/upbit/`, which alone speaks bid/ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from exchange.frozen import quick_init

ZERO = Decimal("0")

SideName = Literal["buy", "sell"]
OrdTypeName = Literal["limit", "price", "market", "best"]
OrderStateName = Literal["wait", "watch", "done", "cancel"]


def side_name(value: str) -> SideName:
    """A stored order side (a plain string in the database) as the typed word; anything else is a bug upstream."""
    if value == "buy":
        return "buy"
    if value == "sell":
        return "sell"
    raise ValueError(f"not an order side: {value!r}")


FINAL_ORDER_STATES: frozenset[str] = frozenset({"done", "cancel"})


@dataclass(frozen=True, slots=True)
class Ticker:
    market: str
    trade_price: Decimal
    timestamp: datetime
    opening_price: Decimal = ZERO
    high_price: Decimal = ZERO
    low_price: Decimal = ZERO
    prev_closing_price: Decimal = ZERO
    acc_trade_volume_24h: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle; `start` is the candle's opening time in UTC, `unit` minutes (1440 for days)."""

    market: str
    unit: int
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    value: Decimal = ZERO


@quick_init
@dataclass(frozen=True, slots=True)
class OrderBookLevel:
    ask_price: Decimal
    ask_size: Decimal
    bid_price: Decimal
    bid_size: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    market: str
    timestamp: datetime
    levels: tuple[OrderBookLevel, ...]
    """Best level first."""

    @property
    def best_ask(self) -> Decimal | None:
        return self.levels[0].ask_price if self.levels else None

    @property
    def best_bid(self) -> Decimal | None:
        return self.levels[0].bid_price if self.levels else None


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    balance: Decimal
    """Free to order."""
    locked: Decimal
    avg_buy_price: Decimal = ZERO
    unit_currency: str = "KRW"

    @property
    def total(self) -> Decimal:
        return self.balance + self.locked


@dataclass(frozen=True, slots=True)
class OrderChance:
    market: str
    bid_fee: Decimal
    ask_fee: Decimal
    min_total: Decimal
    max_total: Decimal
    bid_account: Balance
    ask_account: Balance
    state: str = "active"
    """The market's trading state (`active` when it can be traded)."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """A pair's order-book rules from `GET /v1/orderbook/instruments`: the authoritative tick size."""

    market: str
    quote_currency: str
    tick_size: Decimal
    supported_levels: tuple[Decimal, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """One of the account's API keys from `GET /v1/api_keys`: when it stops working (the key itself is never kept)."""

    expire_at: datetime
    matches_configured_key: bool


@quick_init
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the engine asks for. `price` is the unit price for limit, the KRW total for a `price` buy."""

    market: str
    side: SideName
    ord_type: OrdTypeName
    identifier: str
    price: Decimal | None = None
    volume: Decimal | None = None
    time_in_force: str | None = None
    tick_size: Decimal | None = None
    """The pair's tick from the exchange (`Instrument`); None: the built-in KRW table decides."""


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of an order; `uuid` is the exchange's trade id."""

    uuid: str
    market: str
    side: SideName
    price: Decimal
    volume: Decimal
    funds: Decimal
    created_at: datetime
    fee: Decimal | None = None
    """The fee charged for this fill when the exchange reports it per trade; otherwise computed by the caller."""


@dataclass(frozen=True, slots=True)
class OrderInfo:
    uuid: str
    market: str
    side: SideName
    ord_type: OrdTypeName
    state: OrderStateName
    created_at: datetime
    identifier: str | None = None
    price: Decimal | None = None
    volume: Decimal | None = None
    remaining_volume: Decimal | None = None
    executed_volume: Decimal = ZERO
    executed_funds: Decimal | None = None
    reserved_fee: Decimal = ZERO
    remaining_fee: Decimal = ZERO
    paid_fee: Decimal = ZERO
    locked: Decimal = ZERO
    trades_count: int = 0
    trades: tuple[Trade, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    """The exchange's answer with secrets masked, for the audit trail."""

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_ORDER_STATES

    @property
    def is_filled(self) -> bool:
        """Filled, including a market buy that ends `cancel` after returning unspendable dust."""
        if self.state == "done":
            return True
        return self.state == "cancel" and self.ord_type == "price" and self.executed_volume > 0

    @property
    def filled_funds(self) -> Decimal:
        if self.executed_funds is not None:
            return self.executed_funds
        return sum((trade.funds for trade in self.trades), ZERO)
