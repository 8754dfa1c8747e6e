"""Placing paper orders and filling them against an order book, with `exchange.matching`'s rules:
every function here runs inside the caller's transaction and books trades, order fields and the
balances of one `Ledger`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from exchange.matching import (
    LevelFill,
    consume_levels,
    crosses,
    floor_volume,
    limit_bid_locked,
    limit_fill,
    market_buy_fill,
    market_sell_fill,
)
from exchange.models import PaperOrder, PaperTrade
from exchange.paper.account import Ledger, new_uuid
from exchange.rules import fee_for, quantize_krw
from exchange.types import ZERO, OrderBookLevel, OrderRequest, SideName


def _record_trades(order: PaperOrder, fills: Sequence[LevelFill], now: datetime) -> None:
    PaperTrade.objects.bulk_create(
        PaperTrade(
            uuid=new_uuid(),
            order=order,
            market=order.market,
            side=order.side,
            price=fill.price,
            volume=fill.volume,
            funds=fill.funds,
            fee=fill.fee,
            created_at=now,
        )
        for fill in fills
    )


def _apply_limit_fills(order: PaperOrder, fills: Sequence[LevelFill], ledger: Ledger, now: datetime) -> None:
    """Book fills of a limit order (placed or resting) against its lock; finish it when fully filled."""
    if not fills:
        return
    volume = sum((fill.volume for fill in fills), ZERO)
    funds = sum((fill.funds for fill in fills), ZERO)
    fee = sum((fill.fee for fill in fills), ZERO)
    _record_trades(order, fills, now)
    order.executed_volume += volume
    order.executed_funds += funds
    order.paid_fee += fee
    order.remaining_volume = (order.remaining_volume or ZERO) - volume
    if order.side == "buy":
        order.remaining_fee = order.reserved_fee - order.paid_fee
        new_locked = limit_bid_locked(order.price or ZERO, order.remaining_volume, order.reserved_fee, order.paid_fee)
        released = order.locked - new_locked
        # The lock shrinks by the value of the filled part at the limit price plus its fee; what the
        # fill did not cost (a better price) returns to the free balance.
        ledger.krw.locked -= released
        ledger.krw.balance += released - (funds + fee)
        order.locked = new_locked
        ledger.bought(volume, funds)
    else:
        ledger.sold_from_locked(volume, funds - fee)
        order.locked = order.remaining_volume
    if order.remaining_volume == 0:
        finish(order, PaperOrder.State.DONE, ledger, now)


def finish(order: PaperOrder, state: str, ledger: Ledger, now: datetime) -> None:
    """End an order and hand back whatever it still holds. `locked` then shows what was released,
    like Upbit's finished market buy (`locked` = dust + unused fee)."""
    if order.side == "buy":
        ledger.krw.locked -= order.locked
        ledger.krw.balance += order.locked
    else:
        ledger.coin.locked -= order.locked
        ledger.coin.balance += order.locked
    order.state = state
    order.finished_at = now


def match_open_orders(
    market: str, levels: Sequence[OrderBookLevel], fee_rate: Decimal, now: datetime
) -> tuple[OrderBookLevel, ...]:
    """Fill the market's resting orders the book crosses, best price first then oldest first. Returns
    the book with the liquidity they took removed."""
    remaining_book = tuple(levels)
    with transaction.atomic():
        open_orders = list(
            PaperOrder.objects.select_for_update()
            .filter(market=market, state=PaperOrder.State.WAIT, ord_type="limit")
            .order_by("created_at", "id")
        )
        if not open_orders:
            return remaining_book
        ledger = Ledger(market)
        buys = sorted((o for o in open_orders if o.side == "buy"), key=lambda o: -(o.price or ZERO))
        sells = sorted((o for o in open_orders if o.side == "sell"), key=lambda o: o.price or ZERO)
        for order in [*buys, *sells]:
            side: SideName = "buy" if order.side == "buy" else "sell"
            fill = limit_fill(
                side,
                order.price or ZERO,
                order.remaining_volume or ZERO,
                remaining_book,
                fee_rate,
                resting=True,
                executed_funds=order.executed_funds,
            )
            if not fill.fills:
                continue
            _apply_limit_fills(order, fill.fills, ledger, now)
            order.save()
            remaining_book = consume_levels(remaining_book, side, fill.fills)
        ledger.save()
    return remaining_book


def _new_order(request: OrderRequest, now: datetime) -> PaperOrder:
    return PaperOrder(
        uuid=new_uuid(),
        identifier=request.identifier or None,
        market=request.market,
        side=request.side,
        ord_type=request.ord_type,
        time_in_force=request.time_in_force or "",
        price=request.price,
        volume=request.volume,
        created_at=now,
    )


def place_market_buy(
    request: OrderRequest, levels: Sequence[OrderBookLevel], ledger: Ledger, fee_rate: Decimal, now: datetime
) -> PaperOrder:
    total = request.price or ZERO
    fill = market_buy_fill(levels, total, fee_rate)
    order = _new_order(request, now)
    order.volume = None
    order.executed_volume = fill.executed_volume
    order.executed_funds = fill.executed_funds
    order.reserved_fee = fill.reserved_fee
    order.paid_fee = fill.paid_fee
    order.remaining_fee = fill.remaining_fee
    order.locked = fill.returned
    order.state = fill.state
    order.finished_at = now
    order.save()
    _record_trades(order, fill.fills, now)
    ledger.krw.balance -= fill.krw_spent
    ledger.bought(fill.executed_volume, fill.executed_funds)
    return order


def place_market_sell(
    request: OrderRequest, levels: Sequence[OrderBookLevel], ledger: Ledger, fee_rate: Decimal, now: datetime
) -> PaperOrder:
    volume = request.volume or ZERO
    fill = market_sell_fill(levels, volume, fee_rate)
    order = _new_order(request, now)
    order.price = None
    order.remaining_volume = fill.remaining_volume
    order.executed_volume = fill.executed_volume
    order.executed_funds = fill.executed_funds
    order.paid_fee = fill.paid_fee
    # A sell larger than the book (validation refuses that) would keep its unsold part.
    order.locked = fill.remaining_volume
    order.state = fill.state
    order.finished_at = now
    order.save()
    _record_trades(order, fill.fills, now)
    ledger.coin.balance -= fill.executed_volume
    ledger.krw.balance += fill.proceeds
    return order


def place_limit(
    request: OrderRequest, levels: Sequence[OrderBookLevel], ledger: Ledger, fee_rate: Decimal, now: datetime
) -> PaperOrder:
    """A limit order (or a `best` order, which is a limit at the best opposite price with ioc/fok).

    It locks its funds, takes what the book offers at or better than its price, then rests (plain
    limit), or cancels the rest (ioc), or fills completely or not at all (fok). A post_only order
    that would take liquidity is cancelled without trading."""
    side: SideName = "buy" if request.side == "buy" else "sell"
    order = _new_order(request, now)
    best = levels[0] if levels else None
    if request.ord_type == "best":
        if best is None:
            raise RuntimeError("a best order reached the book with no opposite price; validation refuses that")
        price = best.ask_price if side == "buy" else best.bid_price
        volume = floor_volume((request.price or ZERO) / price) if side == "buy" else request.volume or ZERO
    else:
        price = request.price or ZERO
        volume = request.volume or ZERO
    order.remaining_volume = volume
    if side == "buy":
        # A best buy reserves its KRW total like a market buy; a limit buy reserves price * volume.
        total = (request.price or ZERO) if request.ord_type == "best" else quantize_krw(price * volume)
        order.reserved_fee = fee_for(total, fee_rate)
        order.remaining_fee = order.reserved_fee
        order.locked = total + order.reserved_fee
        ledger.krw.balance -= order.locked
        ledger.krw.locked += order.locked
    else:
        order.locked = volume
        ledger.coin.balance -= volume
        ledger.coin.locked += volume
    order.save()

    tif = request.time_in_force
    opposite = (best.ask_price if side == "buy" else best.bid_price) if best else ZERO
    if tif == "post_only" and crosses(side, price, opposite):
        finish(order, PaperOrder.State.CANCEL, ledger, now)
        order.save()
        return order
    fill = limit_fill(side, price, volume, levels, fee_rate, resting=False) if volume > 0 else None
    fills = fill.fills if fill is not None else ()
    if tif == "fok" and (fill is None or not fill.complete):
        fills = ()
    if request.ord_type == "best":
        _apply_best_fills(order, fills, ledger, now)
    else:
        _apply_limit_fills(order, fills, ledger, now)
    if order.state == PaperOrder.State.WAIT and tif in ("ioc", "fok"):
        finish(order, PaperOrder.State.CANCEL, ledger, now)
    order.save()
    return order


def _apply_best_fills(order: PaperOrder, fills: Sequence[LevelFill], ledger: Ledger, now: datetime) -> None:
    """Book the fills of a `best` order. It never rests, so whatever its lock did not pay for is
    released when it ends."""
    volume = sum((fill.volume for fill in fills), ZERO)
    funds = sum((fill.funds for fill in fills), ZERO)
    fee = sum((fill.fee for fill in fills), ZERO)
    _record_trades(order, fills, now)
    order.executed_volume = volume
    order.executed_funds = funds
    order.paid_fee = fee
    if order.side == "buy":
        order.remaining_volume = None
        order.volume = None
        order.remaining_fee = order.reserved_fee - fee
        order.locked -= funds + fee
        ledger.krw.locked -= funds + fee
        ledger.bought(volume, funds)
        # Like a market buy: done only when the whole total was spent, otherwise cancel with dust back.
        complete = funds == order.price
    else:
        order.remaining_volume = (order.volume or ZERO) - volume
        order.locked = order.remaining_volume
        ledger.sold_from_locked(volume, funds - fee)
        complete = order.remaining_volume == 0
    finish(order, PaperOrder.State.DONE if complete else PaperOrder.State.CANCEL, ledger, now)
