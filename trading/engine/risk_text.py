"""The sentences and figures the risk rules report: written only when someone reads them (`RiskCheck.lazy`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from exchange.rules import fee_for

ZERO = Decimal("0")
ONE_KRW = Decimal("1")
_HUNDRED = Decimal("100")
_CENT = Decimal("0.01")
_MICROSECOND = timedelta(microseconds=1)
_BOUND_MAX_ORDER = "MAX_ORDER_KRW"
_BOUND_BALANCE = "the KRW balance incl. the fee"
_BOUND_POSITION_CAP = "the position cap"

Side = Literal["buy", "sell"]


def number_text(value: Decimal) -> str:
    normal = value.normalize()
    if normal == normal.to_integral_value():
        normal = normal.quantize(ONE_KRW)
    return f"{normal:,f}"


def krw_figure(value: Decimal) -> str:
    return f"{number_text(value)} KRW"


def figure(value: Decimal | int | datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def daily_loss_text(
    realized_today: Decimal,
    unrealized_now: Decimal,
    pnl: Decimal,
    limit: Decimal,
    today: date | None,
    hit_on: date | None,
    reached: bool,
    latched: bool,
) -> tuple[str, dict[str, str]]:
    numbers = {
        "realized_today": figure(realized_today),
        "unrealized_now": figure(unrealized_now),
        "pnl_today": figure(pnl),
        "limit": figure(limit),
    }
    if today is not None:
        numbers["trading_day"] = today.isoformat()
    if reached:
        return (
            f"daily loss limit reached: today's PnL {krw_figure(pnl)} (realized {krw_figure(realized_today)}, unrealized "
            f"{krw_figure(unrealized_now)}) is at or below -{krw_figure(limit)}; no new entries until local midnight",
            numbers,
        )
    if latched:
        numbers["hit_on"] = hit_on.isoformat()  # type: ignore[union-attr]
        return (
            f"daily loss limit of {krw_figure(limit)} was reached earlier today ({hit_on}); "
            f"no new entries until local midnight (today's PnL now {krw_figure(pnl)})",
            numbers,
        )
    return f"today's PnL {krw_figure(pnl)} is within the {krw_figure(limit)} daily loss limit", numbers


def day_start_text(today: date) -> tuple[str, dict[str, str]]:
    return (
        f"today's starting value is unknown: the price at local midnight ({today}) of the position held since before "
        "midnight could not be read yet, so the daily loss limit cannot be judged; no new entries until it is "
        "(exits and sells still work)",
        {"trading_day": today.isoformat()},
    )


def cooldown_text(
    last: datetime | None, now: datetime, cooldown_sec: int, side: Side, micros: int | None, waiting: bool
) -> tuple[str, dict[str, str]]:
    numbers = {"cooldown_sec": str(cooldown_sec), "last_order_at": figure(last), "now": figure(now)}
    if micros is None:
        return f"no {side} order within the {cooldown_sec} s cooldown", numbers
    elapsed = Decimal(micros).scaleb(-6)
    numbers["elapsed_sec"] = number_text(elapsed)
    if waiting:
        wait = cooldown_sec - elapsed
        return (
            f"cooldown: the last {side} order was {number_text(elapsed)} s ago; "
            f"the next {side} is allowed in {number_text(wait)} s (ORDER_COOLDOWN_SEC={cooldown_sec})",
            numbers,
        )
    return f"last {side} order {number_text(elapsed)} s ago, cooldown {cooldown_sec} s passed", numbers


def position_cap_text(
    coin_value_after: Decimal, total_equity: Decimal, ratio: Decimal, cap: Decimal, over: bool, krw_locked: Decimal = ZERO
) -> tuple[str, dict[str, str]]:
    numbers = {
        "coin_value_after": figure(coin_value_after),
        "total_equity": figure(total_equity),
        "ratio": figure(ratio),
        "cap": figure(cap),
    }
    share = (coin_value_after / total_equity * 100) if total_equity > 0 else _HUNDRED
    numbers["share_pct"] = figure(share.quantize(_CENT))
    locked = ""
    if krw_locked > 0:
        numbers["krw_locked"] = figure(krw_locked)
        locked = f" (with {krw_figure(krw_locked)} locked in open buy orders)"
    if over:
        return (
            f"position cap: the coin would be worth {krw_figure(coin_value_after)}{locked}, {share:.2f}% of equity "
            f"{krw_figure(total_equity)}; MAX_POSITION_RATIO={ratio} allows {krw_figure(cap.quantize(_CENT))}",
            numbers,
        )
    cap_pct = f"{(ratio * 100).normalize():f}"
    return f"the coin would be {share:.2f}% of equity (cap {cap_pct}%)", numbers


def max_order_text(
    krw_free: Decimal,
    max_order_krw: Decimal,
    spendable: Decimal,
    position_room_krw: Decimal | None,
    most: Decimal,
    binding_name: str,
    min_order_krw: Decimal,
    requested_krw: Decimal | None,
    fee_rate: Decimal,
    total: Decimal | None,
    rule: str,
) -> tuple[str, dict[str, str]]:
    numbers = {
        "krw_free": figure(krw_free),
        "max_order_krw": figure(max_order_krw),
        "spendable_total": figure(spendable),
        "position_room": figure(position_room_krw),
        "most_allowed": figure(most),
        "bound_by": binding_name,
        "min_order_krw": figure(min_order_krw),
    }
    if requested_krw is not None:
        numbers["requested_krw"] = figure(requested_krw)
    if total is None:
        # Asked for more than the limits allow.
        return (
            f"a buy of {krw_figure(requested_krw)} is more than {binding_name} allows; "  # type: ignore[arg-type]
            f"the most allowed now is {krw_figure(most)}",
            numbers,
        )
    fee = fee_for(total, fee_rate)
    numbers["total"] = figure(total)
    numbers["fee"] = figure(fee)
    if rule == "min_order":
        bound = "" if requested_krw is not None else f" (bound by {binding_name})"
        return f"a buy of {krw_figure(total)}{bound} is below Upbit's minimum order of {krw_figure(min_order_krw)}", numbers
    if requested_krw is None:
        return f"buy {krw_figure(total)} (+ fee {krw_figure(fee)}); bound by {binding_name}", numbers
    return f"buy {krw_figure(total)} as requested (+ fee {krw_figure(fee)})", numbers


def sell_size_text(
    kind: str,
    coin_volume: Decimal,
    price: Decimal,
    min_order_krw: Decimal,
    requested_volume: Decimal | None,
    available: Decimal,
    volume: Decimal | None,
    value: Decimal | None,
) -> tuple[str, dict[str, str]]:
    numbers = {"coin_volume": figure(coin_volume), "price": figure(price), "min_order_krw": figure(min_order_krw)}
    if requested_volume is not None:
        numbers["requested_volume"] = figure(requested_volume)
    if kind == "not_positive":
        return f"a sell volume must be positive, got {requested_volume}", numbers
    if kind == "over_balance":
        return f"a sell of {number_text(requested_volume)} is more than the free balance {number_text(available)}", numbers  # type: ignore[arg-type]
    numbers["volume"] = figure(volume)
    numbers["value"] = figure(value)
    if kind == "nothing":
        return "nothing to sell: the free coin balance is 0", numbers
    if kind == "dust":
        numbers["dust"] = "true"
        return (
            f"dust: {number_text(available)} worth {krw_figure(value.quantize(_CENT))} is below Upbit's minimum order "  # type: ignore[union-attr]
            f"of {krw_figure(min_order_krw)}; it cannot be sold and stays in the account",
            numbers,
        )
    if kind == "min_order":
        return (
            f"a sell of {number_text(volume)} worth {krw_figure(value.quantize(_CENT))} is below Upbit's minimum order "  # type: ignore[arg-type, union-attr]
            f"of {krw_figure(min_order_krw)}",
            numbers,
        )
    return f"sell {number_text(volume)} (about {krw_figure(value.quantize(ONE_KRW))})", numbers  # type: ignore[arg-type, union-attr]
