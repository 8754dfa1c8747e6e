"""Upbit's KRW market rules: minimum and maximum order totals, fee, tick grid, volume precision.

Shared by the live client (to correct prices before sending), the paper exchange and the sandbox
(to reject like Upbit does), the risk gate (fee-aware sizing) and the backtest.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

KRW_MIN_ORDER_TOTAL = Decimal("5000")
KRW_MAX_ORDER_TOTAL = Decimal("1000000000")
DEFAULT_FEE_RATE = Decimal("0.0005")
VOLUME_DECIMALS = 8
VOLUME_QUANTUM = Decimal(1).scaleb(-VOLUME_DECIMALS)
KRW_QUANTUM = Decimal(1).scaleb(-VOLUME_DECIMALS)

# The current KRW tick-size table (from 2025-07-31): (lower bound inclusive, tick), highest first.
KRW_TICK_TABLE: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("2000000"), Decimal("1000")),
    (Decimal("1000000"), Decimal("1000")),
    (Decimal("500000"), Decimal("500")),
    (Decimal("100000"), Decimal("100")),
    (Decimal("50000"), Decimal("50")),
    (Decimal("10000"), Decimal("10")),
    (Decimal("5000"), Decimal("5")),
    (Decimal("1000"), Decimal("1")),
    (Decimal("100"), Decimal("1")),
    (Decimal("10"), Decimal("0.1")),
    (Decimal("1"), Decimal("0.01")),
    (Decimal("0.1"), Decimal("0.001")),
    (Decimal("0.01"), Decimal("0.0001")),
    (Decimal("0.001"), Decimal("0.00001")),
    (Decimal("0.0001"), Decimal("0.000001")),
    (Decimal("0.00001"), Decimal("0.0000001")),
    (Decimal("0"), Decimal("0.00000001")),
)

Rounding = Literal["down", "up", "nearest"]
_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}
_ONE = Decimal(1)
_ZERO = Decimal(0)
# Roundings and quanta go to Decimal.quantize positionally: it parses keywords at a cost comparable to the quantize.


def krw_tick_size(price: Decimal) -> Decimal:
    """The tick (호가 단위) for a KRW price."""
    if price < 0:
        raise ValueError(f"price must not be negative: {price}")
    for lower_bound, tick in KRW_TICK_TABLE:
        if price >= lower_bound:
            return tick
    return KRW_TICK_TABLE[-1][1]


def round_to_tick(price: Decimal, rounding: Rounding = "nearest", *, tick: Decimal | None = None) -> Decimal:
    """Snap a price onto the tick grid. A buy limit should round down, a sell limit up.

    `tick` is the pair's tick as the exchange reports it (`GET /v1/orderbook/instruments`); without it the
    built-in KRW table decides by the price's band."""
    if price <= 0:
        raise ValueError(f"price must be positive: {price}")
    if tick is not None:
        if tick <= 0:
            raise ValueError(f"tick must be positive: {tick}")
        snapped = (price / tick).quantize(Decimal(1), rounding=_ROUNDING[rounding]) * tick
        return (snapped if snapped > 0 else tick).quantize(tick)
    tick = krw_tick_size(price)
    if not price % tick:
        # Already on the grid (every price Upbit publishes): every rounding leaves it where it is.
        return price.quantize(tick) if tick < 1 else price.quantize(_ONE)
    snapped = (price / tick).quantize(_ONE, _ROUNDING[rounding]) * tick
    # Rounding up can cross into a band with a coarser tick (e.g. 999,999 → 1,000,000): snap again.
    if snapped > 0 and krw_tick_size(snapped) != tick:
        coarser = krw_tick_size(snapped)
        snapped = (snapped / coarser).quantize(_ONE, _ROUNDING[rounding]) * coarser
    if snapped <= 0:
        snapped = tick
    return snapped.quantize(tick) if tick < 1 else snapped.quantize(_ONE)


def is_on_tick(price: Decimal, *, tick: Decimal | None = None) -> bool:
    return price > 0 and (price % (tick or krw_tick_size(price))) == 0


def quantize_volume(volume: Decimal) -> Decimal:
    """Volumes carry at most 8 decimals; never round a volume up (it could exceed the balance)."""
    return volume.quantize(VOLUME_QUANTUM, ROUND_DOWN)


def quantize_krw(amount: Decimal) -> Decimal:
    return amount.quantize(KRW_QUANTUM, ROUND_DOWN)


def average_buy_price(held: Decimal, average: Decimal, volume: Decimal, funds: Decimal) -> Decimal:
    """The average buy price after buying `volume` for `funds` (fee excluded) on top of `held` at `average`,
    8 decimals rounded half up. The paper exchange and the sandbox both use it, so they agree to the digit."""
    if held + volume <= 0:
        return _ZERO
    return ((held * average + funds) / (held + volume)).quantize(KRW_QUANTUM, ROUND_HALF_UP)


def fee_for(funds: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> Decimal:
    """The fee Upbit charges on `funds` of quote currency: funds * rate, 8 decimals, rounded half up."""
    return (funds * fee_rate).quantize(KRW_QUANTUM, ROUND_HALF_UP)


def spendable_total(budget: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> Decimal:
    """The largest market-buy total whose reserved fee still fits in `budget` (total * (1 + fee) ≤ budget).

    Upbit reserves the fee on top of the order total, so buying with the whole balance fails with
    insufficient_funds_bid unless the total is reduced this way."""
    if budget <= 0:
        return _ZERO
    total = (budget / (1 + fee_rate)).quantize(_ONE, ROUND_FLOOR)
    while total > 0 and total + (total * fee_rate).quantize(KRW_QUANTUM, ROUND_HALF_UP) > budget:  # fee_for, inlined
        total -= 1
    return total


def meets_minimum_total(total: Decimal) -> bool:
    return total >= KRW_MIN_ORDER_TOTAL
