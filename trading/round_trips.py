"""Round trips: the account's fills paired into trades (entry → exit), and the one definition of a position's profit.

Pure arithmetic on plain values (no database): the engine's PnL book (`trading.engine.pnl.Book`), the dashboard,
the API and /metrics all call these functions, so every figure agrees (docs/CONSOLE.md, "Trades").

Definitions:

- **Cost basis (average cost).** A buy adds its funds plus its fee to the position's cost. A sell takes
  `cost × sold / held` out of it and realizes `proceeds × covered share − that cost`, where the proceeds are its
  funds minus its fee. Volume sold beyond what the fills account for (coins from outside autocoin) has no known
  cost and realizes nothing.
- **Round trip.** From the first buy after the position was flat to the sell that leaves it flat again. Further
  buys average into the same trip; a partial exit closes its share of the position proportionally and stays in
  the trip, which closes with the last sell. A remainder worth less than Upbit's minimum order (dust, valued at
  that sell's price) counts as flat: the trip closes, and the dust's volume and cost carry into the next trip
  (a later sell of dust alone adds its result to the trip the dust came from). The sum of all trips' profit is
  therefore exactly the realized PnL of the engine's book.
- **Unrealized profit of the open position** (`mark_to_market`): its volume at the current price, net of the
  fee a sell would pay, minus its cost basis (buy fees included). Closing the position now would realize it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from exchange.rules import DEFAULT_FEE_RATE, KRW_MIN_ORDER_TOTAL

ZERO = Decimal("0")
HUNDRED = Decimal("100")


def mark_to_market(volume: Decimal, cost: Decimal, price: Decimal, fee_rate: Decimal = DEFAULT_FEE_RATE) -> Decimal:
    """Unrealized PnL of `volume` bought for `cost` (fees included), valued at `price` net of the sell fee."""
    if volume <= 0 or price <= 0:
        return ZERO
    return volume * price * (1 - fee_rate) - cost


@dataclass(frozen=True, slots=True)
class SellResult:
    """What one sell does to the position: the volume it covers, the cost it takes out, the PnL it realizes."""

    covered: Decimal
    cost_out: Decimal
    realized: Decimal


def sell_from_position(held: Decimal, cost: Decimal, volume: Decimal, funds: Decimal, fee: Decimal) -> SellResult:
    """A sell of `volume` for `funds` (fee `fee`) out of a position of `held` bought for `cost` (average cost)."""
    covered = min(volume, held)
    cost_out = cost * covered / held if held > 0 else ZERO
    # Only the share of the sale the position holds a cost for realizes a gain or loss.
    share = covered / volume if volume > 0 else ZERO
    return SellResult(covered=covered, cost_out=cost_out, realized=(funds - fee) * share - cost_out)


def is_dust(volume: Decimal, price: Decimal) -> bool:
    """A remainder worth less than the minimum order at `price`: it can be neither protected nor sold."""
    return volume * price < KRW_MIN_ORDER_TOTAL


# ---------------------------------------------------------------------------------------------------
# Why an order was made: a stable code from the order's recorded reason (trading/engine: the intent's reason)
# ---------------------------------------------------------------------------------------------------
ENTRY_STRATEGY, EXIT_STRATEGY = "strategy", "strategy"
MANUAL, KILL_SWITCH, UNKNOWN = "manual", "kill_switch", "unknown"
STOP_LOSS, TRAILING_STOP, TAKE_PROFIT, ATR_STOP = "stop_loss", "trailing_stop", "take_profit", "atr_stop"
PROTECTIVE_REASONS = frozenset({STOP_LOSS, TRAILING_STOP, TAKE_PROFIT, ATR_STOP})
REASON_CODES = (ENTRY_STRATEGY, MANUAL, KILL_SWITCH, STOP_LOSS, TRAILING_STOP, TAKE_PROFIT, ATR_STOP, UNKNOWN)

# "BUY by macd: entry", "SELL by macd: stop_loss" (trading/engine/cycle.py); "manual (user:kim): buy 10,000 KRW"
# (trading/engine/manual.py); the kill-switch's own orders name it.
_STRATEGY_REASON = re.compile(r"^(?:BUY|SELL) by [^:]+: (?P<code>[a-z_]+)")


def reason_code(reason: str, signal_reason: str | None = None) -> str:
    """The order's reason as one of REASON_CODES. `signal_reason` is the decision's code stored with its signal."""
    text = reason.strip()
    if text.lower().startswith("manual"):
        return MANUAL
    if "kill-switch" in text.lower() or "kill_switch" in text.lower():
        return KILL_SWITCH
    match = _STRATEGY_REASON.match(text)
    code = signal_reason or (match.group("code") if match else "")
    if code in PROTECTIVE_REASONS:
        return code
    if code or match or text.lower().startswith("strategy"):
        return ENTRY_STRATEGY
    return UNKNOWN


# ---------------------------------------------------------------------------------------------------
# Pairing
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TradeFill:
    """The parts of a fill a round trip needs."""

    id: int
    ts: datetime
    side: str
    """"buy" or "sell"."""
    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal
    reason: str = UNKNOWN
    """The order's reason code (`reason_code`)."""


@dataclass(slots=True)
class RoundTrip:
    """One trade from entry to exit (or still open). Prices are volume-weighted averages of the fills."""

    entry_at: datetime
    entry_reason: str
    carried_volume: Decimal = ZERO
    """Dust left by the previous trip, which this one took over with its cost."""
    carried_cost: Decimal = ZERO
    buy_volume: Decimal = ZERO
    buy_funds: Decimal = ZERO
    buy_fees: Decimal = ZERO
    sell_volume: Decimal = ZERO
    sell_funds: Decimal = ZERO
    sell_fees: Decimal = ZERO
    profit: Decimal = ZERO
    """Realized PnL in KRW, net of both sides' fees."""
    exit_at: datetime | None = None
    exit_reason: str = ""
    fill_ids: list[int] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.exit_at is None

    @property
    def closed_at(self) -> datetime:
        """The exit time of a closed trip (an open one has none)."""
        if self.exit_at is None:
            raise ValueError("an open round trip has no exit time")
        return self.exit_at

    @property
    def entry_cost(self) -> Decimal:
        """What the trip's position cost: buy funds and fees, plus the cost of any dust it took over."""
        return self.carried_cost + self.buy_funds + self.buy_fees

    @property
    def avg_entry_price(self) -> Decimal:
        return self.buy_funds / self.buy_volume if self.buy_volume > 0 else ZERO

    @property
    def avg_exit_price(self) -> Decimal | None:
        return self.sell_funds / self.sell_volume if self.sell_volume > 0 else None

    @property
    def fees(self) -> Decimal:
        return self.buy_fees + self.sell_fees

    @property
    def profit_pct(self) -> Decimal:
        """Profit as a percentage of what the trip's position cost."""
        return self.profit * HUNDRED / self.entry_cost if self.entry_cost > 0 else ZERO

    def holding(self, now: datetime) -> timedelta:
        return (self.exit_at or now) - self.entry_at


@dataclass(slots=True)
class TripBook:
    """The fills folded in so far: the closed trips (oldest first), the open one, and the position's volume and cost."""

    closed: list[RoundTrip] = field(default_factory=list)
    open: RoundTrip | None = None
    volume: Decimal = ZERO
    cost: Decimal = ZERO
    last_key: tuple[datetime, int] | None = None
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Figures derived from this book by its readers (a fork starts without them)."""

    def apply(self, fill: TradeFill) -> None:
        if fill.side == "buy":
            self._buy(fill)
        else:
            self._sell(fill)
        self.last_key = (fill.ts, fill.id)

    def fork(self) -> TripBook:
        """A copy that further fills can be folded into while this one is still being read: the trips a fill can
        change (the open one, and the last closed one through its dust) are copied, the older ones shared."""
        closed = list(self.closed)
        if closed:
            closed[-1] = replace(closed[-1], fill_ids=list(closed[-1].fill_ids))
        trip = replace(self.open, fill_ids=list(self.open.fill_ids)) if self.open is not None else None
        return TripBook(closed=closed, open=trip, volume=self.volume, cost=self.cost, last_key=self.last_key)

    def _buy(self, fill: TradeFill) -> None:
        if self.open is None:
            self.open = RoundTrip(entry_at=fill.ts, entry_reason=fill.reason, carried_volume=self.volume, carried_cost=self.cost)
        trip = self.open
        trip.buy_volume += fill.volume
        trip.buy_funds += fill.funds
        trip.buy_fees += fill.fee
        trip.fill_ids.append(fill.id)
        self.volume += fill.volume
        self.cost += fill.funds + fill.fee

    def _sell(self, fill: TradeFill) -> None:
        result = sell_from_position(self.volume, self.cost, fill.volume, fill.funds, fill.fee)
        self.volume -= result.covered
        self.cost -= result.cost_out
        if self.volume <= 0:
            self.volume, self.cost = ZERO, ZERO
        trip = self.open or (self.closed[-1] if self.closed and result.covered > 0 else None)
        if trip is None:
            return  # coins autocoin never bought: no trip, nothing realized
        # The covered share only: coins from outside are neither the trip's volume nor its proceeds.
        share = result.covered / fill.volume if fill.volume > 0 else ZERO
        trip.sell_volume += result.covered
        trip.sell_funds += fill.funds * share
        trip.sell_fees += fill.fee * share
        trip.profit += result.realized
        trip.fill_ids.append(fill.id)
        price = fill.funds / fill.volume if fill.volume > 0 else ZERO  # as the engine's book judges dust
        if trip is self.open and is_dust(self.volume, price):
            trip.exit_at, trip.exit_reason = fill.ts, fill.reason
            self.closed.append(trip)
            self.open = None


def pair_round_trips(fills: Iterable[TradeFill], book: TripBook | None = None) -> TripBook:
    """Fold fills (oldest first: by time, then id) into round trips."""
    book = book or TripBook()
    for fill in fills:
        book.apply(fill)
    return book


# ---------------------------------------------------------------------------------------------------
# Figures over closed trips
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TripStats:
    trades: int
    wins: int
    losses: int
    profit: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    """The sum of the losing trips' losses, as a positive number."""
    fees: Decimal
    max_drawdown: Decimal
    """The largest fall of cumulative profit from its running peak (which starts at 0), in KRW."""

    @property
    def win_rate(self) -> Decimal | None:
        """Winning trips (profit above 0) per closed trip, 0..1; None without any trip."""
        return Decimal(self.wins) / Decimal(self.trades) if self.trades else None

    @property
    def profit_factor(self) -> Decimal | None:
        """Gross profit / gross loss; None when no trip lost (undefined, shown as "—")."""
        return self.gross_profit / self.gross_loss if self.gross_loss > 0 else None


def trip_stats(trips: Iterable[RoundTrip]) -> TripStats:
    """Win rate, profit factor and drawdown of closed trips, taken in the order given (oldest first)."""
    trades = wins = losses = 0
    profit = gross_profit = gross_loss = fees = drawdown = peak = ZERO
    for trip in trips:
        trades += 1
        fees += trip.fees
        profit += trip.profit
        if trip.profit > 0:
            wins += 1
            gross_profit += trip.profit
        elif trip.profit < 0:
            losses += 1
            gross_loss -= trip.profit
        peak = max(peak, profit)
        drawdown = max(drawdown, peak - profit)
    return TripStats(
        trades=trades,
        wins=wins,
        losses=losses,
        profit=profit,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        fees=fees,
        max_drawdown=drawdown,
    )
