"""The sandbox account: balances, orders and fills, with Upbit's rules from `exchange.matching`.

Everything here runs under the server's lock and lives for the life of the process. Orders are
checked with `validate_order` and filled with the same pure functions the paper exchange uses, so
the sandbox, the paper exchange and the backtest agree to the last 1e-8.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange.exceptions import OrderRejected
from exchange.matching import (
    LevelFill,
    bid_required_krw,
    bid_reserved_fee,
    crosses,
    limit_bid_locked,
    limit_fill,
    market_buy_fill,
    market_sell_fill,
    validate_order,
)
from exchange.rules import DEFAULT_FEE_RATE, KRW_MAX_ORDER_TOTAL, KRW_MIN_ORDER_TOTAL, average_buy_price, fee_for
from exchange.types import ZERO, OrderBookLevel, OrderRequest, SideName

KST = timezone(timedelta(hours=9))
SMP_TYPES = frozenset({"cancel_maker", "cancel_taker", "reduce"})
OPEN_STATES = frozenset({"wait", "watch"})
CLOSED_STATES = frozenset({"done", "cancel"})


def dec(value: Decimal) -> str:
    """Upbit's decimal-string form: plain digits, no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def kst(moment: datetime, *, micro: bool = False) -> str:
    return moment.astimezone(KST).isoformat(timespec="microseconds" if micro else "seconds")


class Rejected(Exception):
    """An Upbit error answer: HTTP status, error name, message."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


@dataclass(slots=True)
class Account:
    currency: str
    balance: Decimal = ZERO
    locked: Decimal = ZERO
    avg_buy_price: Decimal = ZERO

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "balance": dec(self.balance),
            "locked": dec(self.locked),
            "avg_buy_price": dec(self.avg_buy_price),
            "avg_buy_price_modified": False,
            "unit_currency": "KRW",
        }


@dataclass(slots=True)
class Fill:
    uuid: str
    market: str
    side: str
    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "uuid": self.uuid,
            "price": dec(self.price),
            "volume": dec(self.volume),
            "funds": dec(self.funds),
            "trend": "up" if self.side == "bid" else "down",
            "created_at": kst(self.created_at, micro=True),
            "side": self.side,
        }


@dataclass(slots=True)
class Order:
    uuid: str
    market: str
    side: str  # bid | ask (Upbit's words: this module speaks the wire format)
    ord_type: str
    created_at: datetime
    price: Decimal | None
    volume: Decimal | None
    identifier: str | None = None
    time_in_force: str | None = None
    smp_type: str | None = None
    state: str = "wait"
    remaining_volume: Decimal | None = None
    executed_volume: Decimal = ZERO
    executed_funds: Decimal = ZERO
    reserved_fee: Decimal = ZERO
    remaining_fee: Decimal = ZERO
    paid_fee: Decimal = ZERO
    locked: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)
    checked_at: float = 0.0

    def as_json(self, *, trades: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"uuid": self.uuid, "side": self.side, "ord_type": self.ord_type}
        if self.price is not None:
            data["price"] = dec(self.price)
        data.update(state=self.state, market=self.market, created_at=kst(self.created_at))
        if self.volume is not None:
            data["volume"] = dec(self.volume)
        if self.remaining_volume is not None:
            data["remaining_volume"] = dec(self.remaining_volume)
        data.update(
            reserved_fee=dec(self.reserved_fee),
            remaining_fee=dec(self.remaining_fee),
            paid_fee=dec(self.paid_fee),
            locked=dec(self.locked),
            executed_volume=dec(self.executed_volume),
            executed_funds=dec(self.executed_funds),
            prevented_volume="0",
            prevented_locked="0",
            trades_count=len(self.fills),
        )
        if self.time_in_force:
            data["time_in_force"] = self.time_in_force
        if self.smp_type:
            data["smp_type"] = self.smp_type
        if self.identifier is not None:
            data["identifier"] = self.identifier
        if trades:
            data["trades"] = [fill.as_json() for fill in self.fills]
        return data


def _number(params: dict[str, Any], name: str, side: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise Rejected(400, "validation_error", f"{name} does not have a valid value")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise Rejected(400, "validation_error", f"{name} does not have a valid value: {raw!r}") from None
    if not value.is_finite():
        raise Rejected(400, "validation_error", f"{name} does not have a valid value: {raw!r}")
    return value


def _text(params: dict[str, Any], name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Rejected(400, "validation_error", f"{name} does not have a valid value")
    return raw


class Ledger:
    def __init__(self, *, krw: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> None:
        self.fee_rate = fee_rate
        self.accounts: dict[str, Account] = {"KRW": Account("KRW", balance=krw)}
        self.orders: dict[str, Order] = {}
        self.by_identifier: dict[str, str] = {}
        self.used_identifiers: set[str] = set()

    # --- accounts -------------------------------------------------------------------------------------
    def account(self, currency: str) -> Account:
        if currency not in self.accounts:
            self.accounts[currency] = Account(currency)
        return self.accounts[currency]

    def accounts_json(self) -> list[dict[str, Any]]:
        rows = [self.accounts["KRW"].as_json()]
        for currency, account in sorted(self.accounts.items()):
            if currency != "KRW" and (account.balance > 0 or account.locked > 0):
                rows.append(account.as_json())
        return rows

    def set_balance(self, currency: str, balance: Decimal, avg_buy_price: Decimal | None = None) -> Account:
        account = self.account(currency)
        account.balance = balance
        if avg_buy_price is not None:
            account.avg_buy_price = avg_buy_price
        return account

    def _credit_coin(self, currency: str, volume: Decimal, funds: Decimal) -> None:
        account = self.account(currency)
        if volume > 0:
            held = account.balance + account.locked
            account.avg_buy_price = average_buy_price(held, account.avg_buy_price, volume, funds)
        account.balance += volume

    def _after_coin_debit(self, currency: str) -> None:
        account = self.account(currency)
        if account.balance + account.locked == 0:
            account.avg_buy_price = ZERO

    # --- lookup ---------------------------------------------------------------------------------------
    def find(self, *, uuid: str | None, identifier: str | None) -> Order:
        order: Order | None = None
        if uuid:
            order = self.orders.get(uuid)
        elif identifier:
            found = self.by_identifier.get(identifier)
            order = self.orders.get(found) if found else None
        else:
            raise Rejected(400, "validation_error", "uuid or identifier is missing")
        if order is None:
            raise Rejected(404, "order_not_found", "주문을 찾지 못했습니다. (Order not found)")
        return order

    # --- placing --------------------------------------------------------------------------------------
    def parse_request(self, params: dict[str, Any], markets: Sequence[str]) -> tuple[OrderRequest, str | None]:
        market = _text(params, "market")
        if market is None:
            raise Rejected(400, "validation_error", "market is missing")
        if market not in markets:
            raise Rejected(400, "notfoundmarket", f"다음 마켓에 없는 종목입니다: {market} (market not found)")
        side_wire = _text(params, "side")
        if side_wire not in ("bid", "ask"):
            raise Rejected(400, "validation_error", "side is missing, side does not have a valid value")
        side = "buy" if side_wire == "bid" else "sell"
        ord_type = _text(params, "ord_type")
        if ord_type not in ("limit", "price", "market", "best"):
            raise Rejected(400, "validation_error", "ord_type is missing, ord_type does not have a valid value")
        price = _number(params, "price", side_wire)
        volume = _number(params, "volume", side_wire)
        identifier = _text(params, "identifier")
        time_in_force = _text(params, "time_in_force")
        smp_type = _text(params, "smp_type")
        if smp_type is not None and smp_type not in SMP_TYPES:
            raise Rejected(400, "validation_error", "smp_type does not have a valid value (cancel_maker, cancel_taker, reduce)")
        if time_in_force == "post_only" and smp_type is not None:
            raise Rejected(400, "invalid_post_only", "post_only orders cannot be combined with smp_type")
        if time_in_force == "post_only" and ord_type != "limit":
            raise Rejected(400, "invalid_time_in_force", "post_only is only for limit orders")
        request = OrderRequest(
            market=market,
            side=side,  # type: ignore[arg-type]
            ord_type=ord_type,  # type: ignore[arg-type]
            identifier=identifier or "",
            price=price,
            volume=volume,
            time_in_force=time_in_force,
        )
        return request, smp_type

    def check(self, request: OrderRequest, levels: Sequence[OrderBookLevel]) -> None:
        coin = request.market.split("-", 1)[1]
        held = self.accounts.get(coin)  # read, never created: a test order leaves the ledger as it was
        try:
            validate_order(
                request,
                levels=levels,
                krw_balance=self.account("KRW").balance,
                coin_balance=held.balance if held is not None else ZERO,
                fee_rate=self.fee_rate,
                used_identifiers=self.used_identifiers,
            )
        except OrderRejected as error:
            raise Rejected(error.status or 400, error.name, error.message) from None

    def place(
        self,
        request: OrderRequest,
        *,
        smp_type: str | None,
        levels: Sequence[OrderBookLevel],
        now: datetime,
        now_seconds: float,
    ) -> Order:
        try:
            self.check(request, levels)
        except Rejected as error:
            # Upbit never lets an identifier be used twice, even one whose order was refused.
            if request.identifier and error.name != "duplicated_identifier":
                self.used_identifiers.add(request.identifier)
            raise
        if request.identifier:
            self.used_identifiers.add(request.identifier)
        side = "bid" if request.side == "buy" else "ask"
        order = Order(
            uuid=str(uuidlib.uuid4()),
            market=request.market,
            side=side,
            ord_type=request.ord_type,
            created_at=now,
            price=request.price,
            volume=request.volume,
            identifier=request.identifier or None,
            time_in_force=request.time_in_force,
            smp_type=smp_type,
            checked_at=now_seconds,
        )
        self.orders[order.uuid] = order
        if order.identifier:
            self.by_identifier[order.identifier] = order.uuid
        if request.side == "buy" and request.ord_type in ("price", "best"):
            self._market_buy(order, levels, now)
        elif request.side == "sell" and request.ord_type in ("market", "best"):
            self._market_sell(order, levels, now)
        else:
            self._limit(order, levels, now)
        return order

    def _record(self, order: Order, fills: Sequence[LevelFill], now: datetime) -> None:
        for fill in fills:
            order.fills.append(
                Fill(str(uuidlib.uuid4()), order.market, order.side, fill.price, fill.volume, fill.funds, fill.fee, now)
            )

    def _market_buy(self, order: Order, levels: Sequence[OrderBookLevel], now: datetime) -> None:
        total = order.price or ZERO
        outcome = market_buy_fill(levels, total, self.fee_rate)
        krw = self.account("KRW")
        krw.balance -= outcome.krw_spent
        self._credit_coin(order.market.split("-", 1)[1], outcome.executed_volume, outcome.executed_funds)
        self._record(order, outcome.fills, now)
        order.executed_volume = outcome.executed_volume
        order.executed_funds = outcome.executed_funds
        order.reserved_fee = outcome.reserved_fee
        order.paid_fee = outcome.paid_fee
        order.remaining_fee = outcome.remaining_fee
        order.locked = outcome.returned  # Upbit shows what was handed back as the final `locked`
        order.state = outcome.state

    def _market_sell(self, order: Order, levels: Sequence[OrderBookLevel], now: datetime) -> None:
        volume = order.volume or ZERO
        outcome = market_sell_fill(levels, volume, self.fee_rate)
        coin = order.market.split("-", 1)[1]
        self.account(coin).balance -= outcome.executed_volume
        self._after_coin_debit(coin)
        self.account("KRW").balance += outcome.proceeds
        self._record(order, outcome.fills, now)
        order.remaining_volume = outcome.remaining_volume
        order.executed_volume = outcome.executed_volume
        order.executed_funds = outcome.executed_funds
        order.paid_fee = outcome.paid_fee
        order.state = outcome.state

    def _limit(self, order: Order, levels: Sequence[OrderBookLevel], now: datetime) -> None:
        price = order.price or ZERO
        volume = order.volume or ZERO
        total = price * volume
        order.remaining_volume = volume
        order.reserved_fee = bid_reserved_fee(total, self.fee_rate) if order.side == "bid" else fee_for(total, self.fee_rate)
        order.remaining_fee = order.reserved_fee
        coin = order.market.split("-", 1)[1]
        if order.side == "bid":
            order.locked = bid_required_krw(total, self.fee_rate)
            krw = self.account("KRW")
            krw.balance -= order.locked
            krw.locked += order.locked
        else:
            order.locked = volume
            account = self.account(coin)
            account.balance -= volume
            account.locked += volume
        side: SideName = "buy" if order.side == "bid" else "sell"
        best = (levels[0].ask_price if side == "buy" else levels[0].bid_price) if levels else ZERO
        if order.time_in_force == "post_only" and crosses(side, price, best):
            # A post-only order that would take liquidity is cancelled instead of filled.
            self._release(order)
            order.state = "cancel"
            return
        outcome = limit_fill(side, price, volume, levels, self.fee_rate, resting=False)
        if order.time_in_force == "fok" and not outcome.complete:
            self._release(order)
            order.state = "cancel"
            return
        if outcome.fills:
            self._apply_limit_fills(order, outcome.fills, outcome.filled_volume, outcome.filled_funds, outcome.fee, now)
        if order.state == "wait" and order.time_in_force == "ioc":
            self._release(order)
            order.state = "cancel"

    def _apply_limit_fills(
        self, order: Order, fills: Sequence[LevelFill], volume: Decimal, funds: Decimal, fee: Decimal, now: datetime
    ) -> None:
        coin = order.market.split("-", 1)[1]
        krw = self.account("KRW")
        self._record(order, fills, now)
        order.executed_volume += volume
        order.executed_funds += funds
        order.paid_fee += fee
        order.remaining_fee = order.reserved_fee - order.paid_fee
        order.remaining_volume = (order.remaining_volume or ZERO) - volume
        if order.side == "bid":
            new_locked = limit_bid_locked(order.price or ZERO, order.remaining_volume, order.reserved_fee, order.paid_fee)
            released = order.locked - new_locked
            krw.locked -= released
            krw.balance += released - funds - fee
            order.locked = new_locked
            self._credit_coin(coin, volume, funds)
        else:
            account = self.account(coin)
            account.locked -= volume
            order.locked = order.remaining_volume
            krw.balance += funds - fee
            self._after_coin_debit(coin)
        if order.remaining_volume == 0:
            order.state = "done"
            self._release(order)

    def _release(self, order: Order) -> None:
        """Hand back what the order still holds (it keeps showing that amount as `locked`)."""
        if order.side == "bid":
            krw = self.account("KRW")
            krw.locked -= order.locked
            krw.balance += order.locked
        else:
            coin = order.market.split("-", 1)[1]
            account = self.account(coin)
            held = order.remaining_volume or ZERO
            account.locked -= held
            account.balance += held

    # --- resting orders and cancels -------------------------------------------------------------------
    def sweep(self, market: str, low: Decimal, high: Decimal, now: datetime, now_seconds: float) -> None:
        """Fill resting limit orders of `market` that the trade price reached (low..high since last check)."""
        for order in list(self.orders.values()):
            if order.market != market or order.state != "wait" or order.ord_type != "limit":
                continue
            order.checked_at = now_seconds
            price = order.price or ZERO
            remaining = order.remaining_volume or ZERO
            if remaining <= 0:
                continue
            if order.side == "bid" and low <= price:
                level = OrderBookLevel(ask_price=low, ask_size=remaining, bid_price=ZERO, bid_size=ZERO)
                side: SideName = "buy"
            elif order.side == "ask" and high >= price:
                level = OrderBookLevel(ask_price=ZERO, ask_size=ZERO, bid_price=high, bid_size=remaining)
                side = "sell"
            else:
                continue
            outcome = limit_fill(
                side,
                price,
                remaining,
                [level],
                self.fee_rate,
                resting=True,
                executed_funds=order.executed_funds,
            )
            if outcome.fills:
                self._apply_limit_fills(order, outcome.fills, outcome.filled_volume, outcome.filled_funds, outcome.fee, now)

    def resting(self, market: str) -> list[Order]:
        return [o for o in self.orders.values() if o.market == market and o.state == "wait"]

    def cancel(self, order: Order) -> dict[str, Any]:
        if order.state not in OPEN_STATES:
            message = "주문을 찾지 못했습니다. 이미 체결되었거나 취소된 주문입니다. (Order is not open)"
            raise Rejected(404, "order_not_found", message)
        snapshot = order.as_json(trades=False)
        self._release(order)
        order.state = "cancel"
        return snapshot

    # --- chance ---------------------------------------------------------------------------------------
    def chance_json(self, market: str) -> dict[str, Any]:
        coin = market.split("-", 1)[1]
        fee = dec(self.fee_rate)
        coin_account = self.accounts.get(coin) or Account(coin)
        return {
            "bid_fee": fee,
            "ask_fee": fee,
            "maker_bid_fee": fee,
            "maker_ask_fee": fee,
            "market": {
                "id": market,
                "name": f"{coin}/KRW",
                "order_types": ["limit"],
                "order_sides": ["ask", "bid"],
                "bid_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "price"],
                "ask_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "market"],
                "bid": {"currency": "KRW", "min_total": dec(KRW_MIN_ORDER_TOTAL)},
                "ask": {"currency": coin, "min_total": dec(KRW_MIN_ORDER_TOTAL)},
                "max_total": dec(KRW_MAX_ORDER_TOTAL),
                "state": "active",
            },
            "bid_account": self.accounts["KRW"].as_json(),
            "ask_account": coin_account.as_json(),
        }

    def state_json(self) -> dict[str, Any]:
        return {
            "balances": {
                currency: {"balance": dec(a.balance), "locked": dec(a.locked), "avg_buy_price": dec(a.avg_buy_price)}
                for currency, a in sorted(self.accounts.items())
            },
            "orders": [order.as_json(trades=True) for order in self.orders.values()],
            "used_identifiers": sorted(self.used_identifiers),
        }
