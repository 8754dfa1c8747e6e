"""The risk gate: every order, from the strategy or a person, passes here before it is written as an intent.

Each rule is a small pure function returning a `RiskCheck` (allowed, rule, message, numbers); `evaluate`
runs the rules that apply to an order in a fixed order and sizes it. Everything the rules need is in
`RiskContext`, so no rule touches the database, the exchange or the clock: the live engine and the
backtester get the same answers from the same numbers. All money is Decimal; `numbers` holds strings
so it can go straight into an event's JSON meta.

What is never blocked: selling. Exits (SELL) pass the kill switch, the daily loss limit (and its unknown
starting value) and the position cap, because those limit *new risk*, and an exit only reduces it. The cooldown between
orders of the same side applies to the strategy's own orders only: a stop-loss / take-profit /
trailing-stop exit, a manual order and the kill switch's flattening sell are never held back by it.
What can stop a sell is Upbit's minimum: a sell worth less than 5,000 KRW would be rejected, so it is
blocked here with rule `dust` (the whole holding is below the minimum: it stays in the account and is
reported, never counted as an open position) or `min_order` (a partial sell that is too small).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from exchange.frozen import quick_init
from exchange.rules import DEFAULT_FEE_RATE, KRW_MIN_ORDER_TOTAL, fee_for, quantize_volume, spendable_total
from exchange.types import SideName
from trading.engine.days import trading_day
from trading.engine.risk_text import (
    cooldown_text,
    daily_loss_text,
    day_start_text,
    figure,
    krw_figure,
    max_order_text,
    number_text,
    position_cap_text,
    sell_size_text,
)

if TYPE_CHECKING:
    from trading.strategies.base import Decision

ZERO = Decimal("0")
ONE_KRW = Decimal("1")

# The engine speaks the exchange layer's order words; one definition for both.
Side = SideName


class Rule(StrEnum):
    """The rule names a RiskCheck carries (stable: they appear in events, metrics and tests)."""

    KILL_SWITCH = "kill_switch"
    DAILY_LOSS = "daily_loss"
    DAY_START_UNKNOWN = "day_start_unknown"
    COOLDOWN = "cooldown"
    PRICE = "price"
    MAX_ORDER_SIZE = "max_order_size"
    MIN_ORDER = "min_order"
    POSITION_CAP = "position_cap"
    SELL_SIZE = "sell_size"
    DUST = "dust"
    ORDER_FAILURES = "order_failures"
    API_FAILURES = "api_failures"
    ENTRIES_PAUSED = "entries_paused"
    MARKET_OFFLINE = "market_offline"


class IntentSource(StrEnum):
    """Who wants the order; it decides which rules apply (see the module docstring)."""

    STRATEGY = "strategy"
    """The strategy's own entry or exit signal."""
    EXIT_RULE = "exit_rule"
    """Stop-loss, take-profit or trailing stop."""
    MANUAL = "manual"
    """A person's order from the dashboard or the API."""
    KILL_SWITCH = "kill_switch"
    """Flattening the position after the kill switch fired."""


# The members the rules use on every order, read once: an enum member read through its class costs a lookup each time.
_KILL_SWITCH = Rule.KILL_SWITCH
_DAILY_LOSS = Rule.DAILY_LOSS
_COOLDOWN = Rule.COOLDOWN
_MAX_ORDER_SIZE = Rule.MAX_ORDER_SIZE
_MIN_ORDER = Rule.MIN_ORDER
_POSITION_CAP = Rule.POSITION_CAP
_SELL_SIZE = Rule.SELL_SIZE
_DUST = Rule.DUST
_STRATEGY = IntentSource.STRATEGY


class RiskCheck:
    """One rule's verdict. `numbers` are the figures it used, as strings (JSON-ready, exact Decimals).

    `size` is set by the sizing rules: the KRW total of a buy (`max_order_size`) or the volume of a sell (`sell_size`).

    Compared and shown like a dataclass of (allowed, rule, message, numbers, size), and never changed after
    it is made. The rules decide with a few Decimal comparisons and leave `message` and `numbers` to be
    written on first read: most orders pass and nobody reads why, and formatting every figure of every
    check would cost more than deciding (the backtester gates tens of thousands of orders).
    """

    __slots__ = ("_text", "allowed", "rule", "size")
    __match_args__ = ("allowed", "rule", "message", "numbers", "size")

    def __init__(
        self, allowed: bool, rule: str, message: str, numbers: dict[str, str] | None = None, size: Decimal | None = None
    ) -> None:
        self.allowed = allowed
        self.rule = rule
        self.size = size
        self._text: tuple[str, dict[str, str]] | Callable[[], tuple[str, dict[str, str]]] = (
            message,
            {} if numbers is None else numbers,
        )
        """(message, numbers), or the function that writes them on first read."""

    @classmethod
    def lazy(
        cls, allowed: bool, rule: str, render: Callable[[], tuple[str, dict[str, str]]], size: Decimal | None = None
    ) -> RiskCheck:
        """A check whose (message, numbers) `render()` gives on first read."""
        check = cls(allowed, rule, "", None, size)
        check._text = render
        return check

    def _written(self) -> tuple[str, dict[str, str]]:
        text = self._text
        if callable(text):
            text = self._text = text()
        return text

    @property
    def message(self) -> str:
        return self._written()[0]

    @property
    def numbers(self) -> dict[str, str]:
        return self._written()[1]

    def _key(self) -> tuple[Any, ...]:
        message, numbers = self._written()
        return (self.allowed, self.rule, message, numbers, self.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RiskCheck):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.allowed, self.rule, self.message, tuple(sorted(self.numbers.items())), self.size))

    def __repr__(self) -> str:
        return (
            f"RiskCheck(allowed={self.allowed!r}, rule={self.rule!r}, message={self.message!r}, "
            f"numbers={self.numbers!r}, size={self.size!r})"
        )

    def __getstate__(self) -> tuple[Any, ...]:
        return self._key()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        allowed, rule, message, numbers, size = state
        RiskCheck.__init__(self, allowed, rule, message, numbers, size)


_new_check = object.__new__


def _lazy(allowed: bool, rule: str, render: Callable[[], tuple[str, dict[str, str]]], size: Decimal | None = None) -> RiskCheck:
    """`RiskCheck.lazy` without the class method's detour through `__init__` (the gate makes several per order)."""
    check: RiskCheck = _new_check(RiskCheck)
    check.allowed = allowed
    check.rule = rule
    check.size = size
    check._text = render
    return check


def _plain(allowed: bool, rule: str, message: str) -> RiskCheck:
    """A check with a fixed message and no numbers, as `RiskCheck(allowed, rule, message, {})` makes it."""
    check: RiskCheck = _new_check(RiskCheck)
    check.allowed = allowed
    check.rule = rule
    check.size = None
    check._text = (message, {})
    return check


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order someone wants. `krw_total` (buy) / `volume` (sell) None means "as much as allowed" / "everything".

    An explicit amount above a limit is blocked with the most that is allowed, never silently trimmed: a
    person who asked for 100,000 KRW should not find a 10,000 KRW order without being told.
    """

    side: Side
    source: IntentSource = IntentSource.STRATEGY
    krw_total: Decimal | None = None
    volume: Decimal | None = None
    reason: str = ""

    @classmethod
    def from_decision(cls, decision: Decision) -> OrderIntent:
        """The intent for a strategy's BUY or SELL decision (exit-rule sells get the EXIT_RULE source)."""
        action = str(decision.action)
        if action not in ("BUY", "SELL"):
            raise ValueError(f"a {action} decision is not an order")
        source = IntentSource.EXIT_RULE if decision.is_exit_rule else IntentSource.STRATEGY
        return cls(side="buy" if action == "BUY" else "sell", source=source, reason=str(decision.reason))


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The configured limits (settings.MAX_ORDER_KRW and friends; see `risk_limits_from_settings`)."""

    max_order_krw: Decimal
    max_daily_loss_krw: Decimal
    max_position_ratio: Decimal
    cooldown_sec: int
    max_consecutive_failures: int
    time_zone: str = "Asia/Seoul"
    fee_rate: Decimal = DEFAULT_FEE_RATE
    min_order_krw: Decimal = KRW_MIN_ORDER_TOTAL


@quick_init
@dataclass(frozen=True, slots=True)
class RiskContext:
    """Everything the rules look at, gathered by the caller once per decision.

    - `price`: the market price the order would trade at (last trade); > 0.
    - `krw_free` / `coin_volume`: what can be spent / sold now; `krw_locked` / `coin_locked` are held by open orders.
    - `realized_today` / `unrealized_now`: PnL in KRW since the start of the local trading day
      (`day_start(now, limits.time_zone)`); the unrealized part is the open position's gain or loss since
      that moment (or since its entry, if bought today). Losses are negative.
    - `loss_limit_day`: the trading day on which the daily loss limit was last hit, kept by the engine so
      that entries stay blocked for the rest of that day even if prices recover.
    - `day_start_known`: False while a position was carried into the day and its value at local midnight is
      not known: `unrealized_now` is then meaningless and new entries are blocked (`day_start_unknown`).
    - `last_buy_at` / `last_sell_at`: the latest strategy order of each side, for the cooldown.
    """

    now: datetime
    price: Decimal
    krw_free: Decimal
    coin_volume: Decimal
    limits: RiskLimits
    krw_locked: Decimal = ZERO
    coin_locked: Decimal = ZERO
    realized_today: Decimal = ZERO
    unrealized_now: Decimal = ZERO
    loss_limit_day: date | None = None
    day_start_known: bool = True
    last_buy_at: datetime | None = None
    last_sell_at: datetime | None = None
    consecutive_order_failures: int = 0
    consecutive_api_failures: int = 0
    kill_switch: bool = False
    kill_switch_reason: str = ""
    entries_block: RiskCheck | None = None
    """What refuses new entries now, judged by the caller (trading/engine/pause_rule.py); None in backtests."""

    @property
    def coin_value(self) -> Decimal:
        """The whole coin holding (free and locked) at `price`."""
        return (self.coin_volume + self.coin_locked) * self.price

    @property
    def equity(self) -> Decimal:
        """KRW (free and locked) plus the coin at `price`."""
        return self.krw_free + self.krw_locked + self.coin_value

    @property
    def trading_day(self) -> date:
        return trading_day(self.now, self.limits.time_zone)


@quick_init
@dataclass(frozen=True, slots=True)
class RiskResult:
    """The gate's answer: allowed or not, every check that ran, and the order's size when allowed."""

    allowed: bool
    side: Side
    source: IntentSource
    checks: tuple[RiskCheck, ...]
    krw_total: Decimal | None = None
    """Buy: the KRW total to send as a market buy's `price` (the fee is reserved on top, and fits)."""
    volume: Decimal | None = None
    """Sell: the volume to sell (8 decimals, never more than the free balance)."""

    @property
    def approved(self) -> bool:
        """The same as `allowed`."""
        return self.allowed

    @property
    def reasons(self) -> list[str]:
        """The messages of the checks that blocked the order (empty when allowed)."""
        return [check.message for check in self.checks if not check.allowed]

    @property
    def blocked_by(self) -> RiskCheck | None:
        """The first rule that blocked the order, or None."""
        return next((check for check in self.checks if not check.allowed), None)

    @property
    def message(self) -> str:
        blocked = self.blocked_by
        if blocked is not None:
            return blocked.message
        if self.side == "buy":
            return f"buy of {krw_figure(self.krw_total or ZERO)} allowed"
        return f"sell of {number_text(self.volume or ZERO)} allowed"

    def as_meta(self) -> dict[str, Any]:
        """JSON-ready meta for a signal or a risk_blocked event."""
        blocked = self.blocked_by
        return {
            "allowed": self.allowed,
            "side": self.side,
            "source": str(self.source),
            "blocked_by": blocked.rule if blocked else None,
            "krw_total": None if self.krw_total is None else str(self.krw_total),
            "volume": None if self.volume is None else str(self.volume),
            "checks": [
                {"rule": str(check.rule), "allowed": check.allowed, "message": check.message, "numbers": check.numbers}
                for check in self.checks
            ],
        }


# ---------------------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------------------
def kill_switch_active(active: bool, reason: str = "") -> RiskCheck:
    """New entries are blocked while the kill switch is on (it is reset by a person)."""
    if active:
        why = f": {reason}" if reason else ""
        return _plain(False, _KILL_SWITCH, f"kill switch is on{why}; no new entries until it is reset")
    return _plain(True, _KILL_SWITCH, "kill switch is off")


def daily_loss_limit(
    realized_today: Decimal,
    unrealized_now: Decimal,
    limit: Decimal,
    *,
    today: date | None = None,
    hit_on: date | None = None,
) -> RiskCheck:
    """Block new entries once today's loss (realized + unrealized since local midnight) reaches `limit` KRW.

    A loss of exactly `limit` counts as reached. `hit_on` is the trading day the limit was last hit: when
    it equals `today` entries stay blocked for the rest of the day even if the loss has shrunk since.
    """
    pnl = realized_today + unrealized_now
    reached = -pnl >= limit
    latched = not reached and hit_on is not None and today is not None and hit_on == today
    return _lazy(
        not (reached or latched),
        _DAILY_LOSS,
        partial(daily_loss_text, realized_today, unrealized_now, pnl, limit, today, hit_on, reached, latched),
    )


def day_start_unknown(today: date) -> RiskCheck:
    """Block new entries while today's starting value is unknown: the daily loss limit cannot be judged without it."""
    return _lazy(False, Rule.DAY_START_UNKNOWN, partial(day_start_text, today))


_MICROSECOND = timedelta(microseconds=1)


def cooldown(last_order_ts_same_side: datetime | None, now: datetime, cooldown_sec: int, *, side: Side = "buy") -> RiskCheck:
    """Orders of the same side must be at least `cooldown_sec` apart; exactly `cooldown_sec` later is allowed."""
    last = last_order_ts_same_side
    if last is None or cooldown_sec <= 0:
        return _lazy(True, _COOLDOWN, partial(cooldown_text, last, now, cooldown_sec, side, None, False))
    # Exact microseconds, so "29.999999 s" is never shown rounded to the 30 s it falls short of.
    micros = (now - last) // _MICROSECOND
    waiting = micros < cooldown_sec * 1_000_000
    return _lazy(not waiting, _COOLDOWN, partial(cooldown_text, last, now, cooldown_sec, side, micros, waiting))


def position_room(equity: Decimal, coin_value: Decimal, ratio: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> Decimal:
    """The largest whole-KRW buy total T with coin_value + T <= ratio × (equity - fee(T)) (never negative).

    The fee leaves equity when the buy fills, so the cap is checked against equity after the fee.
    """
    head = ratio * equity - coin_value
    if head <= 0:
        return ZERO
    total = (head / (1 + ratio * fee_rate)).to_integral_value(ROUND_FLOOR)
    while total > 0 and coin_value + total > ratio * (equity - fee_for(total, fee_rate)):
        total -= 1
    return ZERO if total < ZERO else total  # max(total, ZERO), without the call


_HUNDRED = Decimal("100")
_CENT = Decimal("0.01")


def position_cap(coin_value_after: Decimal, total_equity: Decimal, ratio: Decimal, *, krw_locked: Decimal = ZERO) -> RiskCheck:
    """The coin's value after a buy (with the KRW `krw_locked` in open buy orders, which `coin_value_after`
    includes) must not exceed `ratio` of total equity (MAX_POSITION_RATIO)."""
    cap = ratio * total_equity
    over = total_equity <= 0 or coin_value_after > cap
    text = partial(position_cap_text, coin_value_after, total_equity, ratio, cap, over, krw_locked)
    return _lazy(not over, _POSITION_CAP, text)


_BOUND_MAX_ORDER = "MAX_ORDER_KRW"
_BOUND_BALANCE = "the KRW balance incl. the fee"
_BOUND_POSITION_CAP = "the position cap"


def max_order_size(
    *,
    krw_free: Decimal,
    max_order_krw: Decimal,
    position_room_krw: Decimal | None = None,
    requested_krw: Decimal | None = None,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    min_order_krw: Decimal = KRW_MIN_ORDER_TOTAL,
    krw_locked: Decimal = ZERO,
) -> RiskCheck:
    """Size a market buy: min(MAX_ORDER_KRW, the position cap's room, what KRW can pay including the fee).

    Upbit reserves total + fee (0.05%) from the KRW balance, so the total is at most
    `spendable_total(krw_free)`: total + fee(total) <= krw_free always holds. Totals are whole KRW.
    With `requested_krw` (a person's amount) the order is that amount if every limit allows it, and
    blocked otherwise (naming the limit and the most allowed). Below `min_order_krw` it is blocked.
    """
    # The smallest limit binds; on a tie the first named one (MAX_ORDER_KRW, the balance, the position cap).
    most = max_order_krw.to_integral_value(ROUND_FLOOR)
    binding_name = _BOUND_MAX_ORDER
    spendable = spendable_total(krw_free, fee_rate)
    if spendable < most:
        most, binding_name = spendable, _BOUND_BALANCE
    if position_room_krw is not None:
        room = position_room_krw.to_integral_value(ROUND_FLOOR)
        if room < ZERO:  # max(room, ZERO), without the call
            room = ZERO
        if room < most:
            most, binding_name = room, _BOUND_POSITION_CAP
            if krw_locked > 0:
                binding_name = f"{_BOUND_POSITION_CAP} ({krw_figure(krw_locked)} of it already locked in open buy orders)"
    figures = (krw_free, max_order_krw, spendable, position_room_krw, most, binding_name, min_order_krw, requested_krw, fee_rate)
    if requested_krw is not None:
        if requested_krw > most:
            return _lazy(False, _MAX_ORDER_SIZE, partial(max_order_text, *figures, None, _MAX_ORDER_SIZE))
        total = requested_krw
    else:
        total = most
    if total < min_order_krw:
        return _lazy(False, _MIN_ORDER, partial(max_order_text, *figures, total, _MIN_ORDER), total)
    return _lazy(True, _MAX_ORDER_SIZE, partial(max_order_text, *figures, total, _MAX_ORDER_SIZE), total)


def sell_size(
    *,
    coin_volume: Decimal,
    price: Decimal,
    requested_volume: Decimal | None = None,
    min_order_krw: Decimal = KRW_MIN_ORDER_TOTAL,
) -> RiskCheck:
    """Size a market sell: the requested volume, or the whole free coin balance; blocked below Upbit's minimum.

    When the whole holding is worth less than the minimum it is *dust*: rule `dust`, a message saying
    it cannot be sold and stays in the account (the engine reports it at INFO, not as an error, and the
    strategies treat it as flat). A partial sell that is too small is rule `min_order`.
    """
    available = quantize_volume(coin_volume)
    figures = (coin_volume, price, min_order_krw, requested_volume, available)
    if requested_volume is not None:
        if requested_volume <= 0:
            return _lazy(False, Rule.SELL_SIZE, partial(sell_size_text, "not_positive", *figures, None, None))
        if requested_volume > available:
            return _lazy(False, Rule.SELL_SIZE, partial(sell_size_text, "over_balance", *figures, None, None))
        volume = quantize_volume(requested_volume)
    else:
        volume = available
    value = volume * price
    if volume <= 0:
        return _lazy(False, _SELL_SIZE, partial(sell_size_text, "nothing", *figures, volume, value), volume)
    if value < min_order_krw:
        if available * price < min_order_krw:
            return _lazy(False, _DUST, partial(sell_size_text, "dust", *figures, volume, value), volume)
        return _lazy(False, _MIN_ORDER, partial(sell_size_text, "min_order", *figures, volume, value), volume)
    return _lazy(True, _SELL_SIZE, partial(sell_size_text, "sized", *figures, volume, value), volume)


# ---------------------------------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------------------------------
def _all_allowed(checks: list[RiskCheck]) -> bool:
    # A list, not a generator: this runs for every order the backtester gates.
    return all([check.allowed for check in checks])  # noqa: C419


def evaluate(intent: OrderIntent, context: RiskContext) -> RiskResult:
    """Run the rules that apply to `intent` and size it.

    BUY: kill switch, a pause of new entries (strategy buys only: `entries_paused`, `market_offline`), daily loss
    limit (or `day_start_unknown` while today's starting value is unknown), cooldown (strategy buys only), a usable
    price, size (`max_order_size` with the position cap's room), then `position_cap` on the sized order.
    SELL: cooldown (strategy sells only, never exit rules, manual or kill-switch sells), then `sell_size`.
    Every check is reported; the order is allowed when all pass.
    """
    limits = context.limits
    price = context.price
    source = intent.source
    strategy_order = source == _STRATEGY
    if intent.side == "sell":
        checks: list[RiskCheck] = []
        if strategy_order:
            checks.append(cooldown(context.last_sell_at, context.now, limits.cooldown_sec, side="sell"))
        if price <= 0:
            checks.append(RiskCheck(False, Rule.PRICE, f"no usable market price ({price})", {"price": figure(price)}))
            return RiskResult(False, "sell", source, tuple(checks))
        size = sell_size(
            coin_volume=context.coin_volume,
            price=price,
            requested_volume=intent.volume,
            min_order_krw=limits.min_order_krw,
        )
        checks.append(size)
        allowed = _all_allowed(checks)
        return RiskResult(allowed, "sell", source, tuple(checks), None, size.size if allowed else None)

    if intent.side != "buy":
        raise ValueError(f"order side must be buy or sell, got {intent.side!r}")
    now = context.now
    today = trading_day(now, limits.time_zone)
    checks = [kill_switch_active(context.kill_switch, context.kill_switch_reason)]
    if strategy_order and context.entries_block is not None:
        checks.append(context.entries_block)  # a pause holds the strategy's entries only, never a person's order
    checks.append(
        daily_loss_limit(
            context.realized_today,
            context.unrealized_now,
            limits.max_daily_loss_krw,
            today=today,
            hit_on=context.loss_limit_day,
        )
        if context.day_start_known
        else day_start_unknown(today)
    )
    if strategy_order:
        checks.append(cooldown(context.last_buy_at, now, limits.cooldown_sec, side="buy"))
    if price <= 0:
        checks.append(RiskCheck(False, Rule.PRICE, f"no usable market price ({price})", {"price": figure(price)}))
        return RiskResult(False, "buy", source, tuple(checks))
    krw_locked = context.krw_locked
    coin_value = (context.coin_volume + context.coin_locked) * price  # context.coin_value
    equity = context.krw_free + krw_locked + coin_value
    # KRW locked by open buy orders becomes coin when they fill: it is position already, or two buys that each
    # fit the cap alone would together exceed it.
    committed = coin_value + krw_locked
    fee_rate = limits.fee_rate
    ratio = limits.max_position_ratio
    room = position_room(equity, committed, ratio, fee_rate)
    size = max_order_size(
        krw_free=context.krw_free,
        max_order_krw=limits.max_order_krw,
        position_room_krw=room,
        requested_krw=intent.krw_total,
        fee_rate=fee_rate,
        min_order_krw=limits.min_order_krw,
        krw_locked=krw_locked,
    )
    checks.append(size)
    total = size.size
    if size.allowed and total is not None:
        checks.append(position_cap(committed + total, equity - fee_for(total, fee_rate), ratio, krw_locked=krw_locked))
    allowed = _all_allowed(checks)
    return RiskResult(allowed, "buy", source, tuple(checks), total if allowed else None)
