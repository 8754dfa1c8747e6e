"""The limits a manual buy must fit, checked when it is queued, the same way the dashboard's form checks them.

A manual buy used to be accepted into the queue and only then refused by the engine's risk gate, in another
panel. Now the queueing service refuses a buy that cannot pass, with the full reason, and the dashboard's
form (static/js/manual-limits.js) runs the same rules with the same sentences before it sends anything:

1. at least Upbit's minimum order (5,000 KRW);
2. at most MAX_ORDER_KRW;
3. at most what the KRW balance can pay with the fee reserved on top (the last balance snapshot);
4. at most the room under the position cap, MAX_POSITION_RATIO of total equity (the last snapshot, valued
   at the engine's last price).

The engine's gate still decides when it carries the order out (docs/DECISIONS.md): 3 and 4 are read from
the last snapshot, which may be minutes old, and with no snapshot yet only 1 and 2 are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.utils.translation import gettext

from exchange.rules import DEFAULT_FEE_RATE, KRW_MIN_ORDER_TOTAL, fee_for, spendable_total
from trading import selectors
from trading.errors import InvalidInput

# The refusals a manual buy's amount can get from the limits, in the order they are checked.
BUY_LIMIT_CODES = ("below_minimum", "over_max_order", "over_balance", "over_position_cap")


@dataclass(frozen=True)
class ManualBuyLimits:
    """What a manual buy may spend now; `available_krw` and `position_room_krw` are None with no snapshot."""

    min_krw: Decimal
    max_order_krw: Decimal
    max_position_ratio: Decimal
    available_krw: Decimal | None
    position_room_krw: Decimal | None
    balance_at: datetime | None

    @property
    def most_krw(self) -> Decimal:
        """The largest buy every limit allows (it may be below the minimum: then no buy fits)."""
        bounds = [self.max_order_krw, self.available_krw, self.position_room_krw]
        return min(bound for bound in bounds if bound is not None)

    @property
    def sentences(self) -> dict[str, str]:
        """The refusals' sentences in the active language, %-style ("%(value)s KRW is over …"), for the form's
        script to fill in exactly as the server does."""
        return {code: gettext(InvalidInput.SENTENCES[code][1] or code) for code in BUY_LIMIT_CODES}

    @property
    def ratio_percent_text(self) -> str:
        """MAX_POSITION_RATIO as the sentences show it: 0.3 → "30"."""
        return krw_text(self.max_position_ratio * 100)


def krw_text(value: Decimal) -> str:
    """An amount as the refusal sentences show it: thousands commas, no trailing zeros ("20,000", "5,000.5").

    static/js/manual-limits.js writes numbers the same way, so the form's sentence and the server's match."""
    plain = format(value.normalize(), "f")
    whole, _, fraction = plain.partition(".")
    grouped = f"{int(whole):,}"
    return f"{grouped}.{fraction}" if fraction else grouped


def _position_room(equity: Decimal, coin_value: Decimal, ratio: Decimal) -> Decimal:
    """The largest whole-KRW buy total T with coin_value + T <= ratio × (equity − fee(T)), as the engine's gate
    computes it; never negative."""
    head = ratio * equity - coin_value
    if head <= 0:
        return Decimal(0)
    total = (head / (1 + ratio * DEFAULT_FEE_RATE)).to_integral_value(ROUND_FLOOR)
    while total > 0 and coin_value + total > ratio * (equity - fee_for(total)):
        total -= 1
    return max(total, Decimal(0))


def manual_buy_limits(balance: selectors.BalanceView | None = None, *, read_balance: bool = True) -> ManualBuyLimits:
    """The limits for a manual buy now, from the settings and the last balance snapshot (`balance`, or read)."""
    if balance is None and read_balance:
        balance = selectors.balance_current()
    available = room = None
    if balance is not None:
        available = spendable_total(balance.krw)
        room = _position_room(balance.total_krw, balance.coin_value, settings.MAX_POSITION_RATIO)
    return ManualBuyLimits(
        min_krw=KRW_MIN_ORDER_TOTAL,
        max_order_krw=settings.MAX_ORDER_KRW,
        max_position_ratio=settings.MAX_POSITION_RATIO,
        available_krw=available,
        position_room_krw=room,
        balance_at=balance.ts if balance is not None else None,
    )


def manual_buy_refusal(krw: Decimal, limits: ManualBuyLimits) -> InvalidInput | None:
    """Why a manual buy of `krw` cannot pass the limits (the first limit it breaks), or None when it fits."""
    value = krw_text(krw)
    if krw < limits.min_krw:
        return InvalidInput("krw", "below_minimum", value=value)
    if krw > limits.max_order_krw:
        return InvalidInput("krw", "over_max_order", value=value, limit=krw_text(limits.max_order_krw))
    if limits.available_krw is not None and krw > limits.available_krw:
        return InvalidInput("krw", "over_balance", value=value, limit=krw_text(limits.available_krw))
    if limits.position_room_krw is not None and krw > limits.position_room_krw:
        room = krw_text(limits.position_room_krw)
        return InvalidInput("krw", "over_position_cap", value=value, limit=room, ratio=limits.ratio_percent_text)
    return None
