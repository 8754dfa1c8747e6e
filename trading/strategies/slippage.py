"""The slippage limit for market orders: walk the order book, and shrink or skip an order that would fill too far
from the best price.

Pure (no database, no HTTP, no clock) and Decimal throughout, so the live engine (on the order book it
fetched) and the backtest (on the book it models) apply the same rule:

- The book is walked with Upbit's own fill rules (`exchange.matching.market_buy_fill` / `market_sell_fill`:
  the first 30 levels, volumes floored to 8 decimals), and the expected average fill price is the
  volume-weighted price of those fills, before the fee.
- Slippage is how far that average is from the best price, in percent of the best price: above the best
  ask for a buy, below the best bid for a sell. It is never negative.
- Within `max_slippage_pct` (and the book deep enough): the order goes as asked.
- Otherwise the order shrinks to the largest size whose average stays within the limit and that the
  book holds: a buy's KRW total floored to the won (as `exchange.rules.spendable_total` sizes totals), a
  sell's volume floored to 8 decimals. A shrunk sell also keeps what it leaves behind sellable: if the
  rest would be worth less than Upbit's minimum order, the sell shrinks further so the rest reaches it.
- A shrunk order below Upbit's minimum order total (a sell measured at the best bid, as Upbit does) is
  skipped, as is any order on a side of the book with no levels.
- A limit of None or 0 turns the rule off: the order goes as asked, with the expected numbers reported
  when the book has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from exchange.matching import (
    ORDER_BOOK_DEPTH,
    LevelFill,
    ask_depth,
    bid_depth,
    floor_volume,
    market_buy_fill,
    market_sell_fill,
)
from exchange.rules import DEFAULT_FEE_RATE, KRW_MIN_ORDER_TOTAL, KRW_QUANTUM, VOLUME_QUANTUM
from exchange.types import ZERO, OrderBookLevel, SideName

_HUNDRED = Decimal(100)
_WON = Decimal(1)


@dataclass(frozen=True, slots=True)
class SlippageCheck:
    """What the slippage limit made of one market order.

    Sizes are a KRW total for a buy (Upbit `ord_type="price"`) and a coin volume for a sell
    (`ord_type="market"`). The expected numbers describe `size` when the order is allowed, and the order
    as asked when it is skipped (so the reason can show what was wrong with it).
    """

    allowed: bool
    side: SideName
    requested: Decimal
    size: Decimal
    """What to send: `requested`, or less when shrunk; 0 when not allowed."""
    best_price: Decimal | None
    """The best ask (buy) or bid (sell); None when that side of the book is empty."""
    expected_avg_price: Decimal | None
    """Volume-weighted price of the expected fills, 8 decimals; None without fills."""
    slippage_pct: Decimal | None
    """How far the average is from the best price, in percent (0.5 = 0.5%), 8 decimals."""
    expected_volume: Decimal
    """Coin expected to be bought or sold."""
    expected_funds: Decimal
    """KRW expected to be paid (buy) or received (sell), before the fee."""
    expected_fee: Decimal
    """The fee on `expected_funds` at the given fee rate."""
    max_slippage_pct: Decimal | None
    """The limit applied; None when off."""
    reason: str
    """One sentence with the numbers, for the signal, the event and the log."""

    @property
    def shrunk(self) -> bool:
        return self.allowed and self.size < self.requested

    def as_meta(self) -> dict[str, object]:
        """The check as JSON-ready meta (Decimals as they are: `DjangoJSONEncoder` writes them as strings)."""
        return {
            "allowed": self.allowed,
            "side": self.side,
            "requested": self.requested,
            "size": self.size,
            "best_price": self.best_price,
            "expected_avg_price": self.expected_avg_price,
            "slippage_pct": self.slippage_pct,
            "max_slippage_pct": self.max_slippage_pct,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class _Walk:
    fills: tuple[LevelFill, ...]
    volume: Decimal
    funds: Decimal
    fee: Decimal
    average: Decimal | None


def slippage_check(
    levels: Sequence[OrderBookLevel],
    side: SideName,
    size: Decimal,
    max_slippage_pct: Decimal | None,
    *,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    min_total: Decimal = KRW_MIN_ORDER_TOTAL,
) -> SlippageCheck:
    """Check a market order of `size` (KRW total to buy, or coin volume to sell) against `levels` (best first).

    Returns a SlippageCheck: allowed with `size` as asked or shrunk, or not allowed (skip) with the reason.
    Raises ValueError for a size that is not positive, a negative limit, or an unknown side.
    """
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', not {side!r}")
    if not size.is_finite() or size <= 0:
        raise ValueError(f"order size must be a positive number, got {size}")
    if max_slippage_pct is not None and (not max_slippage_pct.is_finite() or max_slippage_pct < 0):
        raise ValueError(f"max slippage must be a percentage of at least 0 (0 or None turns it off), got {max_slippage_pct}")
    limit = max_slippage_pct if max_slippage_pct else None
    buying = side == "buy"
    unit = "KRW" if buying else "coin"
    book_side = "asks" if buying else "bids"
    best = _best_price(levels, buying)

    def result(allowed: bool, final: Decimal, walk: _Walk | None, reason: str) -> SlippageCheck:
        return SlippageCheck(
            allowed=allowed,
            side=side,
            requested=size,
            size=final if allowed else ZERO,
            best_price=best,
            expected_avg_price=walk.average if walk else None,
            slippage_pct=_slippage(walk.average, best, buying) if walk and walk.average and best else None,
            expected_volume=walk.volume if walk else ZERO,
            expected_funds=walk.funds if walk else ZERO,
            expected_fee=walk.fee if walk else ZERO,
            max_slippage_pct=limit,
            reason=reason,
        )

    if best is None:
        if limit is None:
            return result(True, size, None, f"slippage limit off; the order book has no {book_side}")
        return result(False, ZERO, None, f"skip: the order book has no {book_side} to {side} against")
    whole = _walk(levels, buying, size, fee_rate)
    if limit is None:
        return result(True, size, whole, "slippage limit off")
    if whole.average is None:
        return result(False, ZERO, whole, f"skip: {_num(size)} {unit} does not fill one 0.00000001 unit at {_num(best)}")

    # The worst average allowed, and the whole order's verdict compared exactly (no rounded percentages).
    bound = best * (1 + limit / _HUNDRED) if buying else best * (1 - limit / _HUNDRED)
    depth = ask_depth(levels) if buying else bid_depth(levels)
    fills_fully = size <= depth
    within = _within(whole.fills, bound, buying)
    if fills_fully and within:
        return result(
            True,
            size,
            whole,
            f"expected average {_num(whole.average)} is {_pct(whole.average, best, buying)} "
            f"{'above the best ask' if buying else 'below the best bid'} {_num(best)} (limit {_num(limit)}%)",
        )

    if not within:
        why = (
            f"the whole order would average {_num(whole.average)}, {_pct(whole.average, best, buying)} "
            f"{'above the best ask' if buying else 'below the best bid'} {_num(best)}, over the limit {_num(limit)}%"
        )
    else:
        why = f"the {book_side} on the book hold only {_num(depth.quantize(KRW_QUANTUM, ROUND_FLOOR))} {unit}"
    shrunk = _largest_within(whole.fills, bound, buying)
    if buying:
        # The KRW the largest volume costs, in whole won: rounded up it buys exactly that volume, unless a
        # unit costs less than a won and the extra won buys one more; the book must also hold the total.
        up = shrunk.quantize(_WON, ROUND_CEILING)
        fits = up <= depth and _within(_walk(levels, buying, up, fee_rate).fills, bound, buying)
        shrunk = up if fits else shrunk.quantize(_WON, ROUND_FLOOR)
    elif shrunk < size:
        # Leave a rest that can still be sold: a rest under Upbit's minimum would be stuck as dust.
        keep = (min_total / best).quantize(VOLUME_QUANTUM, ROUND_CEILING)
        if size - shrunk < keep:
            shrunk = max(ZERO, size - keep)
            why += f"; {_num(keep)} coin is kept back so the rest stays worth Upbit's minimum order"
    total = shrunk if buying else shrunk * best
    if total < min_total:
        return result(
            False,
            ZERO,
            whole,
            f"skip: {why}; the largest order within it, {_num(total)} KRW, is below Upbit's minimum {_num(min_total)} KRW",
        )
    kept = _walk(levels, buying, shrunk, fee_rate)
    return result(
        True,
        shrunk,
        kept,
        f"shrunk from {_num(size)} to {_num(shrunk)} {unit}: {why}; the smaller order averages "
        f"{_num(kept.average)} ({_pct(kept.average, best, buying)})",
    )


def _best_price(levels: Sequence[OrderBookLevel], buying: bool) -> Decimal | None:
    for level in levels[:ORDER_BOOK_DEPTH]:
        price, amount = (level.ask_price, level.ask_size) if buying else (level.bid_price, level.bid_size)
        if price > 0 and amount > 0:
            return price
    return None


def _walk(levels: Sequence[OrderBookLevel], buying: bool, size: Decimal, fee_rate: Decimal) -> _Walk:
    if buying:
        bought = market_buy_fill(levels, size, fee_rate)
        fills, volume, funds, fee = bought.fills, bought.executed_volume, bought.executed_funds, bought.paid_fee
    else:
        sold = market_sell_fill(levels, size, fee_rate)
        fills, volume, funds, fee = sold.fills, sold.executed_volume, sold.executed_funds, sold.paid_fee
    # The average is the volume-weighted level price, not funds / volume: Upbit floors each fill's funds to
    # 8 decimals, which would move the average by up to 10^-8 KRW per fill and nothing else.
    value = sum((fill.price * fill.volume for fill in fills), ZERO)
    average = (value / volume).quantize(KRW_QUANTUM, ROUND_HALF_UP) if volume > 0 else None
    return _Walk(fills, volume, funds, fee, average)


def _within(fills: Sequence[LevelFill], bound: Decimal, buying: bool) -> bool:
    """Whether the fills' average price is at or better than `bound`, compared without dividing."""
    value = sum((fill.price * fill.volume for fill in fills), ZERO)
    volume = sum((fill.volume for fill in fills), ZERO)
    return value <= bound * volume if buying else value >= bound * volume


def _largest_within(fills: Sequence[LevelFill], bound: Decimal, buying: bool) -> Decimal:
    """The largest part of `fills` (taken best first) whose average is at or better than `bound`.

    Levels at or better than the bound are taken whole. At a worse level price p, with volume V and value
    P taken so far, the average (P + p v) / (V + v) stays within the bound for v <= (bound V - P) / (p - bound)
    (a buy; a sell mirrors it); v is floored to 8 decimals, and the walk goes on only if the level was
    taken whole. Returns what
    that volume costs in KRW for a buy (exactly, not yet in whole won), the volume for a sell."""
    value = ZERO
    volume = ZERO
    funds = ZERO
    for fill in fills:
        price = fill.price
        if (price <= bound) if buying else (price >= bound):
            value += price * fill.volume
            volume += fill.volume
            funds += fill.funds
            continue
        room = (bound * volume - value) / (price - bound) if buying else (value - bound * volume) / (bound - price)
        extra = min(floor_volume(room), fill.volume)
        if extra > 0:
            value += price * extra
            volume += extra
            funds += fill.funds if extra == fill.volume else price * extra
        if extra < fill.volume:
            break
    return funds if buying else volume


def _slippage(average: Decimal, best: Decimal, buying: bool) -> Decimal:
    gap = average - best if buying else best - average
    if gap <= 0:
        return ZERO
    return (gap / best * _HUNDRED).quantize(KRW_QUANTUM, ROUND_HALF_UP)


def _pct(average: Decimal | None, best: Decimal, buying: bool) -> str:
    return "n/a" if average is None else f"{_slippage(average, best, buying):.3f}%"


def _num(value: Decimal | None) -> str:
    """A Decimal for a person: thousands separators, no exponent, no trailing zeros."""
    return "n/a" if value is None else f"{value.normalize():,f}"
