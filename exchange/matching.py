"""Upbit's fill and rejection rules as pure functions: order book levels and Decimals in, fills out.

The paper exchange, the sandbox server and the backtest all fill orders through these functions, so
the three agree with each other (and, as far as the published examples show, with Upbit) to the
last satoshi. Nothing here touches the database, the network or the clock.

Rules reproduced (Upbit's published order examples and KRW market rules):

- A market buy (`ord_type="price"`) walks the ask levels best first. At each level it buys
  ``floor8(remaining KRW / price)`` capped by the level's size, paying ``price * volume``. The KRW
  that cannot buy one more 1e-8 unit is returned with the unused part of the reserved fee, and the
  order ends ``cancel`` (``done`` only when the total was spent exactly). Upbit's own example:
  total 6000 at 160,594,000 → volume 0.00003736, funds 5999.79184, reserved fee 3, paid fee
  2.99989592, remaining fee 0.00010408, locked (returned) 0.20826408.
- A market sell (`ord_type="market"`) walks the bid levels best first; the fee comes out of the KRW
  proceeds and nothing is reserved.
- A limit order that crosses the book when placed takes liquidity at each crossed level's own price
  (never worse than its limit); the rest rests at the limit price. A resting order fills later, at
  its own limit price, when the opposite side crosses it (buy: ask ≤ limit; sell: bid ≥ limit), up
  to the size shown on the crossing levels.
- Fees: each fill's fee is chosen so that the order's paid fee is always
  ``fee_for(cumulative executed funds)`` (8 decimals, half up). Per-fill fees therefore sum exactly
  to the order's fee, and a bid's paid fee can never exceed what it reserved.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Literal

from exchange.exceptions import OrderRejected
from exchange.frozen import quick_init
from exchange.rules import (
    DEFAULT_FEE_RATE,
    KRW_MAX_ORDER_TOTAL,
    KRW_MIN_ORDER_TOTAL,
    KRW_QUANTUM,
    VOLUME_QUANTUM,
    fee_for,
    is_on_tick,
    quantize_krw,
)
from exchange.types import ZERO, OrderBookLevel, OrderRequest, SideName

FillState = Literal["wait", "done", "cancel"]

ORDER_BOOK_DEPTH = 30
"""Upbit refuses a market order larger than what its 30 visible levels hold."""

IDENTIFIER_MAX_LENGTH = 64
TIME_IN_FORCE_VALUES = frozenset({"ioc", "fok", "post_only"})


@quick_init
@dataclass(frozen=True, slots=True)
class LevelFill:
    """One fill against one order book level. `fee` is in KRW."""

    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal


@quick_init
@dataclass(frozen=True, slots=True)
class BuyFill:
    """The outcome of a market buy of `total` KRW (Upbit `ord_type="price"`)."""

    total: Decimal
    fills: tuple[LevelFill, ...]
    executed_volume: Decimal
    executed_funds: Decimal
    reserved_fee: Decimal
    paid_fee: Decimal
    remaining_fee: Decimal
    """The part of the reserved fee that was not needed; returned to the buyer."""
    dust: Decimal
    """KRW of the total that could not buy one more 1e-8 unit; returned to the buyer."""
    state: FillState

    @property
    def returned(self) -> Decimal:
        """Everything handed back when the order ends: Upbit shows it as the final order's `locked`."""
        return self.dust + self.remaining_fee

    @property
    def krw_spent(self) -> Decimal:
        return self.executed_funds + self.paid_fee


@quick_init
@dataclass(frozen=True, slots=True)
class SellFill:
    """The outcome of a market sell of `volume` units (Upbit `ord_type="market"`)."""

    volume: Decimal
    fills: tuple[LevelFill, ...]
    executed_volume: Decimal
    remaining_volume: Decimal
    executed_funds: Decimal
    paid_fee: Decimal
    state: FillState

    @property
    def proceeds(self) -> Decimal:
        """KRW credited to the seller: funds minus fee."""
        return self.executed_funds - self.paid_fee


@dataclass(frozen=True, slots=True)
class LimitFill:
    """What one matching pass filled of a limit order's remaining volume."""

    side: SideName
    price: Decimal
    fills: tuple[LevelFill, ...]
    filled_volume: Decimal
    filled_funds: Decimal
    fee: Decimal
    remaining_volume: Decimal

    @property
    def complete(self) -> bool:
        return self.remaining_volume == 0


def floor_volume(volume: Decimal) -> Decimal:
    # The rounding goes positionally: Decimal parses keywords at a cost comparable to the quantize itself.
    return volume.quantize(VOLUME_QUANTUM, ROUND_FLOOR)


def _fee_step(funds_before: Decimal, funds: Decimal, fee_rate: Decimal) -> Decimal:
    """The fee of one fill: the growth of the order's cumulative fee (see module docstring)."""
    return fee_for(funds_before + funds, fee_rate) - fee_for(funds_before, fee_rate)


def market_buy_fill(levels: Sequence[OrderBookLevel], total_krw: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> BuyFill:
    """Fill a market buy of `total_krw` against `levels` (best first), the way Upbit does.

    The caller validates first (`validate_order`); if the book runs out the order simply fills what it
    can and the rest is returned like dust."""
    if total_krw <= 0:
        raise ValueError(f"total must be positive: {total_krw}")
    remaining = total_krw
    executed_funds = ZERO
    executed_volume = ZERO
    # The order's cumulative fee so far: each fill's fee is its growth (see `_fee_step`).
    fee_so_far = fee_for(ZERO, fee_rate)
    fills: list[LevelFill] = []
    for level in levels if len(levels) <= ORDER_BOOK_DEPTH else levels[:ORDER_BOOK_DEPTH]:
        ask, size = level.ask_price, level.ask_size
        if ask <= 0 or size <= 0:
            continue
        volume = (remaining / ask).quantize(VOLUME_QUANTUM, ROUND_FLOOR)  # floor_volume
        if size < volume:  # min(volume, size), ties alike
            volume = size
        if volume <= 0:
            # Asks only get dearer further down, so nothing more can be bought.
            break
        funds = (ask * volume).quantize(KRW_QUANTUM, ROUND_DOWN)  # quantize_krw
        fee_after = fee_for(executed_funds + funds, fee_rate)
        fills.append(LevelFill(ask, volume, funds, fee_after - fee_so_far))
        fee_so_far = fee_after
        executed_funds += funds
        executed_volume += volume
        remaining -= funds
        if remaining <= 0:
            break
    reserved_fee = fee_for(total_krw, fee_rate)
    paid_fee = fee_so_far if fills else ZERO
    dust = total_krw - executed_funds
    # Positional, in field order: (total, fills, executed_volume, executed_funds, reserved_fee, paid_fee,
    # remaining_fee, dust, state).
    return BuyFill(
        total_krw,
        tuple(fills),
        executed_volume,
        executed_funds,
        reserved_fee,
        paid_fee,
        reserved_fee - paid_fee,
        dust,
        "done" if dust == 0 else "cancel",
    )


def market_sell_fill(levels: Sequence[OrderBookLevel], volume: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> SellFill:
    """Fill a market sell of `volume` against the bid levels (best first); the fee comes out of the KRW.

    If the book holds less than `volume` (the caller should have rejected that), the rest is left
    unfilled and the order ends `cancel`."""
    if volume <= 0:
        raise ValueError(f"volume must be positive: {volume}")
    remaining = volume
    executed_funds = ZERO
    fee_so_far = fee_for(ZERO, fee_rate)
    fills: list[LevelFill] = []
    for level in levels if len(levels) <= ORDER_BOOK_DEPTH else levels[:ORDER_BOOK_DEPTH]:
        if remaining <= 0:
            break
        bid, size = level.bid_price, level.bid_size
        if bid <= 0 or size <= 0:
            continue
        take = size if size < remaining else remaining  # min(remaining, size), ties alike
        funds = (bid * take).quantize(KRW_QUANTUM, ROUND_DOWN)  # quantize_krw
        fee_after = fee_for(executed_funds + funds, fee_rate)
        fills.append(LevelFill(bid, take, funds, fee_after - fee_so_far))
        fee_so_far = fee_after
        executed_funds += funds
        remaining -= take
    # Positional, in field order: (volume, fills, executed_volume, remaining_volume, executed_funds, paid_fee, state).
    return SellFill(
        volume,
        tuple(fills),
        volume - remaining,
        remaining,
        executed_funds,
        fee_so_far if fills else ZERO,
        "done" if remaining == 0 else "cancel",
    )


def crosses(side: SideName, limit_price: Decimal, opposite_price: Decimal) -> bool:
    """Whether a limit at `limit_price` trades against an opposite quote at `opposite_price`."""
    if opposite_price <= 0:
        return False
    return opposite_price <= limit_price if side == "buy" else opposite_price >= limit_price


def limit_fill(
    side: SideName,
    price: Decimal,
    volume: Decimal,
    levels: Sequence[OrderBookLevel],
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    *,
    resting: bool,
    executed_funds: Decimal = ZERO,
) -> LimitFill:
    """Match `volume` (the order's remaining volume) of a limit order against the opposite side.

    - ``resting=False`` (the order is being placed, taker): walk every crossing level at that level's
      price, so a marketable limit gets the book's better prices like on Upbit.
    - ``resting=True`` (an order already on the book, maker): the opposite side has moved through the
      limit; fill at the limit price, up to the sizes shown on the crossing levels. Sizes are the only
      evidence of how much would really have traded against the order, so a cross of a tiny size
      yields a partial fill and the rest keeps resting.

    `executed_funds` is what the order has filled before, so the fee stays cumulative."""
    if price <= 0 or volume < 0:
        raise ValueError(f"price must be positive and volume not negative: {price}, {volume}")
    remaining = volume
    funds_so_far = executed_funds
    fills: list[LevelFill] = []
    for level in levels[:ORDER_BOOK_DEPTH]:
        if remaining <= 0:
            break
        level_price, level_size = (level.ask_price, level.ask_size) if side == "buy" else (level.bid_price, level.bid_size)
        if level_size <= 0:
            continue
        if not crosses(side, price, level_price):
            break
        take = min(remaining, level_size)
        fill_price = price if resting else level_price
        funds = quantize_krw(fill_price * take)
        fee = _fee_step(funds_so_far, funds, fee_rate)
        if resting and fills and fills[-1].price == fill_price:
            # A resting order trades at one price: report one fill per matching pass.
            last = fills[-1]
            fills[-1] = LevelFill(price=fill_price, volume=last.volume + take, funds=last.funds + funds, fee=last.fee + fee)
        else:
            fills.append(LevelFill(price=fill_price, volume=take, funds=funds, fee=fee))
        funds_so_far += funds
        remaining -= take
    return LimitFill(
        side=side,
        price=price,
        fills=tuple(fills),
        filled_volume=volume - remaining,
        filled_funds=funds_so_far - executed_funds,
        fee=sum((fill.fee for fill in fills), ZERO),
        remaining_volume=remaining,
    )


def consume_levels(levels: Sequence[OrderBookLevel], side: SideName, fills: Sequence[LevelFill]) -> tuple[OrderBookLevel, ...]:
    """The book left after `fills` took liquidity from the opposite side of a `side` order, so two
    orders matched in one pass never trade against the same size twice."""
    return take_volume(levels, side, sum((fill.volume for fill in fills), ZERO))


def take_volume(levels: Sequence[OrderBookLevel], side: SideName, volume: Decimal) -> tuple[OrderBookLevel, ...]:
    """The book left after a `side` order took `volume` from the opposite side, best level first
    (every fill function here walks the book that way)."""
    taken = volume
    result: list[OrderBookLevel] = []
    for level in levels:
        size = level.ask_size if side == "buy" else level.bid_size
        used = min(size, taken) if size > 0 else ZERO
        taken -= used
        if side == "buy":
            result.append(OrderBookLevel(level.ask_price, level.ask_size - used, level.bid_price, level.bid_size))
        else:
            result.append(OrderBookLevel(level.ask_price, level.ask_size, level.bid_price, level.bid_size - used))
    return tuple(result)


# --- Money held by orders --------------------------------------------------------------------------


def bid_reserved_fee(total: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> Decimal:
    """The fee a bid reserves when placed: for a limit, total = price * volume; for a market buy, its total."""
    return fee_for(total, fee_rate)


def bid_required_krw(total: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> Decimal:
    """KRW a bid locks when placed: the total plus its reserved fee."""
    return total + bid_reserved_fee(total, fee_rate)


def limit_bid_locked(price: Decimal, remaining_volume: Decimal, reserved_fee: Decimal, paid_fee: Decimal) -> Decimal:
    """KRW a resting limit bid still holds: unfilled value at the limit price plus the unused fee.

    Fills at a better price than the limit release the difference, and the fee only ever shrinks, so
    the lock always covers what is left to pay."""
    return quantize_krw(price * remaining_volume) + (reserved_fee - paid_fee)


# --- Validation --------------------------------------------------------------------------------------


def ask_depth(levels: Sequence[OrderBookLevel]) -> Decimal:
    """KRW value resting on the first 30 ask levels: the largest market buy Upbit accepts."""
    depth = ZERO
    for level in levels[:ORDER_BOOK_DEPTH]:
        depth += level.ask_price * level.ask_size
    return depth


def bid_depth(levels: Sequence[OrderBookLevel]) -> Decimal:
    """Volume resting on the first 30 bid levels: the largest market sell Upbit accepts."""
    depth = ZERO
    for level in levels[:ORDER_BOOK_DEPTH]:
        depth += level.bid_size
    return depth


def _reject(name: str, message: str) -> OrderRejected:
    return OrderRejected(message, name=name, status=400)


def _side_suffix(side: str) -> str:
    return "bid" if side == "buy" else "ask"


AMOUNT_LIMIT = Decimal("1000000000000000")


def _has_too_many_decimals(value: Decimal) -> bool:
    return value != value.quantize(VOLUME_QUANTUM, ROUND_FLOOR)


def order_total(request: OrderRequest, levels: Sequence[OrderBookLevel]) -> Decimal:
    """The KRW value Upbit measures against the minimum and maximum order totals.

    Limit: price * volume. Market or best buy: its total. Market or best sell: volume * best bid."""
    if request.ord_type == "limit":
        return (request.price or ZERO) * (request.volume or ZERO)
    if request.side == "buy":
        return request.price or ZERO
    best_bid = levels[0].bid_price if levels else ZERO
    return (request.volume or ZERO) * best_bid


_ORD_TYPES = ("limit", "price", "market", "best")


def _check_amount(name: str, value: Decimal | None, wanted: bool, ord_type: str, suffix: str) -> None:
    if value is None:
        if wanted:
            raise _reject("validation_error", f"{name} is missing")
        return
    if not wanted:
        raise _reject(f"create_{suffix}_error", f"{name} must be empty for ord_type={ord_type} {suffix}")
    if not value.is_finite() or value <= 0:
        raise _reject("validation_error", f"{name} must be a positive number: {value}")
    if value >= AMOUNT_LIMIT:
        # Far beyond any KRW-market order, and beyond what exact 28-digit Decimal arithmetic with 8 decimals holds.
        raise _reject("validation_error", f"{name} is too large: {value}")


def _validate_shape(request: OrderRequest) -> None:
    side = request.side
    if side != "buy" and side != "sell":
        raise _reject("validation_error", "side is missing, side does not have a valid value")
    suffix = _side_suffix(side)
    ord_type = request.ord_type
    if ord_type not in _ORD_TYPES:
        raise _reject("validation_error", "ord_type is missing, ord_type does not have a valid value")
    if ord_type == "price" and side != "buy":
        raise _reject(f"create_{suffix}_error", "ord_type=price is a market buy; sell with ord_type=market")
    if ord_type == "market" and side != "sell":
        raise _reject(f"create_{suffix}_error", "ord_type=market is a market sell; buy with ord_type=price")

    # Which of price and volume each order type takes (Upbit's new-order table).
    wants_price = ord_type == "limit" or (side == "buy" and (ord_type == "price" or ord_type == "best"))
    wants_volume = ord_type == "limit" or (side == "sell" and (ord_type == "market" or ord_type == "best"))
    _check_amount("price", request.price, wants_price, ord_type, suffix)
    _check_amount("volume", request.volume, wants_volume, ord_type, suffix)
    if request.volume is not None and _has_too_many_decimals(request.volume):
        raise _reject("validation_error", f"volume has more than 8 decimals: {request.volume}")
    buy_total = request.price if side == "buy" and (ord_type == "price" or ord_type == "best") else None
    if buy_total is not None and _has_too_many_decimals(buy_total):
        raise _reject("validation_error", f"price has more than 8 decimals: {request.price}")

    tif = request.time_in_force
    if ord_type == "best":
        if tif not in ("ioc", "fok"):
            raise _reject("invalid_time_in_force", "ord_type=best needs time_in_force ioc or fok")
    elif ord_type == "limit":
        if tif is not None and tif not in TIME_IN_FORCE_VALUES:
            raise _reject("invalid_time_in_force", f"time_in_force must be ioc, fok or post_only, not {tif!r}")
    elif tif is not None:
        raise _reject("invalid_time_in_force", f"time_in_force is only for limit and best orders, not {ord_type}")

    if len(request.identifier) > IDENTIFIER_MAX_LENGTH:
        raise _reject("validation_error", f"identifier is longer than {IDENTIFIER_MAX_LENGTH} characters")


def validate_order(
    request: OrderRequest,
    *,
    levels: Sequence[OrderBookLevel],
    krw_balance: Decimal,
    coin_balance: Decimal,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    used_identifiers: Container[str] = (),
) -> None:
    """Raise OrderRejected (with Upbit's error name) if Upbit would refuse `request`; return None otherwise.

    `levels` is the market's current order book (best first), `krw_balance` and `coin_balance` the
    free (not locked) balances, `used_identifiers` every identifier the account has ever used.

    Checks run in this order: shape (`validation_error`, `create_*_error`, `invalid_time_in_force`),
    `duplicated_identifier`, `invalid_price_*`, `under_min_total_*`, `over_krw_funds_*`, book depth,
    `insufficient_funds_*`. A market order larger than the 30 visible levels is refused as
    `create_bid_error` / `create_ask_error` (Upbit documents the refusal but not its name)."""
    _validate_shape(request)
    suffix = _side_suffix(request.side)
    if request.identifier and request.identifier in used_identifiers:
        raise _reject("duplicated_identifier", f"identifier {request.identifier!r} was already used")
    if request.ord_type == "limit" and request.price is not None and not is_on_tick(request.price, tick=request.tick_size):
        raise _reject(f"invalid_price_{suffix}", f"price {request.price} is not on the KRW tick grid")
    if request.side == "sell" and request.ord_type in ("market", "best") and (not levels or levels[0].bid_price <= 0):
        raise _reject("create_ask_error", "no bids on the order book to sell into")
    if request.side == "buy" and request.ord_type in ("price", "best") and (not levels or levels[0].ask_price <= 0):
        raise _reject("create_bid_error", "no asks on the order book to buy from")

    total = order_total(request, levels)
    if total < KRW_MIN_ORDER_TOTAL:
        raise _reject(f"under_min_total_{suffix}", f"order total {total} KRW is below the minimum {KRW_MIN_ORDER_TOTAL} KRW")
    if total > KRW_MAX_ORDER_TOTAL:
        raise _reject(f"over_krw_funds_{suffix}", f"order total {total} KRW is above the maximum {KRW_MAX_ORDER_TOTAL} KRW")

    if request.ord_type == "price" and total > ask_depth(levels):
        raise _reject("create_bid_error", f"market buy total {total} KRW exceeds the asks on the first 30 levels")
    if request.ord_type == "market" and (request.volume or ZERO) > bid_depth(levels):
        raise _reject("create_ask_error", f"market sell volume {request.volume} exceeds the bids on the first 30 levels")

    if request.side == "buy":
        needed = bid_required_krw(total, fee_rate)
        if needed > krw_balance:
            raise _reject("insufficient_funds_bid", f"order needs {needed} KRW (total + fee); {krw_balance} KRW is free")
    else:
        volume = request.volume or ZERO
        if volume > coin_balance:
            raise _reject("insufficient_funds_ask", f"order needs volume {volume}; {coin_balance} is free")
