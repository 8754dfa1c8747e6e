"""Replay stored candles through the live engine's own strategy, risk gate and paper fill rules.

Nothing here re-implements trading logic. Per candle the backtest calls exactly what the live engine
calls, with the numbers it would have had:

- the strategy: `Strategy.prepare(arrays, params)` once over all candles, then
  `Strategy.decide(prepared, i, position)` at every candle, on the candle's close;
- the risk gate: `trading.engine.risk.evaluate(OrderIntent.from_decision(decision), RiskContext(...))`,
  which sizes the order (fee-aware, MAX_ORDER_KRW, the position cap's room, Upbit's minimum) and applies
  the cooldown and the daily loss limit on the local (TIME_ZONE) trading day;
- the fill: `exchange.matching.validate_order` and `market_buy_fill` / `market_sell_fill`, the functions
  the paper exchange fills with, against a one-level book built from the *next* candle's open (ask
  rounded up and bid rounded down onto the tick grid, unlimited size): the decision is made on a closed
  candle, and the order reaches the market when the next one opens;
- realized PnL: `trading.engine.pnl.Book`, the book the live engine's daily PnL and loss limit use.

Speed: the loop touches Python objects only when something happens. Prices are float64 arrays for the
strategy; Decimal money (balances, fees, sizes) is computed only for the few candles with an order, and
the equity curve is rebuilt with numpy from the balance changes afterwards.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from exchange.exceptions import OrderRejected
from exchange.matching import market_buy_fill, market_sell_fill, validate_order
from exchange.rules import DEFAULT_FEE_RATE, KRW_MAX_ORDER_TOTAL, KRW_QUANTUM, round_to_tick
from exchange.types import OrderBookLevel, OrderRequest
from trading.backtest.metrics import Metrics, compute_metrics
from trading.engine import risk
from trading.engine.pnl import Book, FillRecord
from trading.strategies.base import Action, Position, Strategy
from trading.strategies.indicators import CandleArrays
from trading.strategies.registry import get_strategy

ZERO = Decimal("0")
# The synthetic book's size: large enough that no order is limited by it (there is no depth in a candle).
UNLIMITED_SIZE = Decimal("1000000000000")
# --no-limits: the risk rules still run, with limits no order can reach.
NO_LIMIT_KRW = Decimal("1000000000000000")


class BacktestError(ValueError):
    """A backtest that cannot run as asked; the text is one line for the person."""


@dataclass(frozen=True)
class BacktestConfig:
    market: str
    unit: int
    strategy: str
    params: dict[str, Any]
    start: datetime
    end: datetime
    initial_krw: Decimal
    limits: risk.RiskLimits
    fees: bool = True
    """False: fee rate 0 (for comparisons with fee-less backtesters)."""

    @property
    def fee_rate(self) -> Decimal:
        return self.limits.fee_rate if self.fees else ZERO


def backtest_limits(
    *, fees: bool = True, limits: bool = True, overrides: dict[str, Any] | None = None, time_zone: str | None = None
) -> risk.RiskLimits:
    """The live engine's limits from settings, with overrides; `limits=False` lifts every limit we set
    ourselves (order size up to Upbit's maximum, no cooldown, no position cap, no daily loss limit), while
    Upbit's own rules (minimum order, tick grid, 8-decimal volumes) always apply."""
    values: dict[str, Any] = dict(overrides or {})
    if time_zone:
        values["time_zone"] = time_zone
    if not limits:
        values.update(
            max_order_krw=KRW_MAX_ORDER_TOTAL,
            max_daily_loss_krw=NO_LIMIT_KRW,
            max_position_ratio=Decimal("1"),
            cooldown_sec=0,
        )
    values["fee_rate"] = DEFAULT_FEE_RATE if fees else ZERO
    return risk.risk_limits_from_settings(values)


@dataclass(slots=True)
class TradeRecord:
    """One fill of the backtest (a whole market order: the synthetic book has one level)."""

    index: int
    ts: datetime
    side: str
    reason: str
    decided_at: datetime
    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal
    realized_pnl: Decimal
    krw_after: Decimal
    coin_after: Decimal
    equity_after: Decimal
    total: Decimal | None = None
    """Buy: the KRW total sent (the risk gate's size); the fee was reserved on top."""

    @property
    def ts_epoch(self) -> int:
        return int(self.ts.timestamp())


@dataclass(slots=True)
class BlockedOrder:
    """A BUY or SELL decision that did not become a fill, and why (the rule and its message)."""

    index: int
    decided_at: datetime
    side: str
    reason: str
    rule: str
    message: str
    numbers: dict[str, str] = field(default_factory=dict)
    """The figures the blocking rule used (the risk gate's RiskCheck.numbers)."""


@dataclass
class BacktestResult:
    config: BacktestConfig
    arrays: CandleArrays
    equity: npt.NDArray[np.float64]
    in_position: npt.NDArray[np.bool_]
    trades: list[TradeRecord]
    blocked: list[BlockedOrder]
    round_trip_pnls: list[Decimal]
    metrics: Metrics
    final_krw: Decimal
    final_coin: Decimal
    final_equity: Decimal
    fees: Decimal
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def blocked_by_rule(self) -> dict[str, int]:
        return dict(Counter(block.rule for block in self.blocked))

    def entries(self) -> list[datetime]:
        return [trade.ts for trade in self.trades if trade.side == "buy"]

    def exits(self) -> list[datetime]:
        return [trade.ts for trade in self.trades if trade.side == "sell"]


def _decimal_price(value: float) -> Decimal:
    # Stored prices have at most 15 significant digits (Upbit's have far fewer), and repr() of a float
    # read from such a decimal gives that decimal back exactly.
    return Decimal(repr(float(value)))


def _open_book(open_f: float) -> tuple[Decimal, tuple[OrderBookLevel, ...]]:
    """The open as a Decimal and the one-level book at it (cached by the float: open prices repeat)."""
    cached = _BOOKS.get(open_f)
    if cached is not None:
        return cached
    if len(_BOOKS) > 10_000:
        _BOOKS.clear()
    open_price = _decimal_price(open_f)
    _BOOKS[open_f] = cached = (open_price, _make_book(open_price))
    return cached


_BOOKS: dict[float, tuple[Decimal, tuple[OrderBookLevel, ...]]] = {}


def _make_book(open_price: Decimal) -> tuple[OrderBookLevel, ...]:
    ask = round_to_tick(open_price, "up")
    # An open already on the grid rounds to itself both ways (the usual case: stored prices are Upbit's).
    bid = ask if ask == open_price else round_to_tick(open_price, "down")
    return (OrderBookLevel(ask_price=ask, ask_size=UNLIMITED_SIZE, bid_price=bid, bid_size=UNLIMITED_SIZE),)


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector during the replay: it allocates many short-lived objects (Decimals,
    checks, records) and creates no reference cycles, so the collector's frequent passes (about 5% of
    the replay) would find nothing. Memory is still freed by reference counting; the collector resumes
    (if it was on) when the replay ends, also on an error."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _local_days(start: npt.NDArray[np.int64], tz: str) -> list[int]:
    """The local calendar day number of every candle's close, for cheap day-change tests in the loop."""
    from trading.backtest.metrics import _utc_offsets

    return ((start + _utc_offsets(start, tz)) // 86400).tolist()


class _Run:
    """The mutable state of one replay (balances, position, the PnL book, the risk memory)."""

    def __init__(self, config: BacktestConfig, arrays: CandleArrays, strategy: Strategy) -> None:
        self.config = config
        self.arrays = arrays
        self.strategy = strategy
        self.fee_rate = config.fee_rate
        self.limits = config.limits
        self.market = config.market
        self.zone = ZoneInfo(config.limits.time_zone)
        self.krw = config.initial_krw
        self.coin = ZERO
        self.avg_price = ZERO
        self.entry_at: datetime | None = None
        self.book = Book()
        self.fill_id = 0
        self.trades: list[TradeRecord] = []
        self.blocked: list[BlockedOrder] = []
        self.round_trip_pnls: list[Decimal] = []
        self.trip_pnl = ZERO
        self.fees = ZERO
        self.last_buy_at: datetime | None = None
        self.last_sell_at: datetime | None = None
        self.loss_limit_day: date | None = None
        self.intents: dict[tuple[Any, Any], risk.OrderIntent] = {}
        # Balance changes for the equity curve: from candle index k on, (krw, coin) as floats.
        self.change_index: list[int] = [0]
        self.change_krw: list[float] = [float(self.krw)]
        self.change_coin: list[float] = [0.0]

    # --- time --------------------------------------------------------------------------------------
    def close_time(self, i: int) -> datetime:
        return datetime.fromtimestamp(int(self.arrays.start[i]) + self.arrays.unit_sec, tz=UTC)

    def open_time(self, i: int) -> datetime:
        return datetime.fromtimestamp(int(self.arrays.start[i]), tz=UTC)

    # --- the gate ----------------------------------------------------------------------------------
    def context(self, now: datetime, price: Decimal) -> risk.RiskContext:
        today = risk.trading_day(now, self.zone)
        totals = self.book.days.get(today)
        return risk.RiskContext(
            now=now,
            price=price,
            krw_free=self.krw,
            coin_volume=self.coin,
            limits=self.limits,
            realized_today=totals.realized if totals else ZERO,
            unrealized_now=self.book.unrealized(price, self.fee_rate),
            loss_limit_day=self.loss_limit_day,
            last_buy_at=self.last_buy_at,
            last_sell_at=self.last_sell_at,
        )

    def gate(self, decision: Any, i: int, now: datetime) -> risk.RiskResult:
        """Put the decision made at candle `i`'s close (`now`) through the risk gate."""
        context = self.context(now, _decimal_price(self.arrays.close[i]))
        # An intent is immutable and depends only on the decision's action and reason: one per kind.
        key = (decision.action, decision.reason)
        intent = self.intents.get(key)
        if intent is None:
            intent = self.intents[key] = risk.OrderIntent.from_decision(decision)
        result = risk.evaluate(intent, context)
        if not result.allowed:
            blocked = result.blocked_by
            assert blocked is not None
            if blocked.rule == risk.Rule.DAILY_LOSS:
                # The live engine remembers the day the limit was hit, so entries stay blocked until midnight.
                self.loss_limit_day = context.trading_day
            self.blocked.append(
                BlockedOrder(
                    index=i,
                    decided_at=now,
                    side=result.side,
                    reason=str(decision.reason),
                    rule=str(blocked.rule),
                    message=blocked.message,
                    numbers=dict(blocked.numbers),
                )
            )
        elif intent.source == risk.IntentSource.STRATEGY:
            if result.side == "buy":
                self.last_buy_at = now
            else:
                self.last_sell_at = now
        return result

    # --- the fill ----------------------------------------------------------------------------------
    def fill(self, approved: risk.RiskResult, reason: str, decided: int, decided_at: datetime, i: int) -> Decimal | None:
        """Fill an approved order (decided at candle `decided`'s close, `decided_at`) at candle `i`'s open;
        returns the PnL it realized (None: not filled)."""
        start = self.arrays.start
        open_price, levels = _open_book(float(self.arrays.open[i]))
        # The next candle usually opens when the deciding one closes: the same moment.
        ts = decided_at if start[i] == start[decided] + self.arrays.unit_sec else self.open_time(i)
        self.fill_id += 1
        # Positional: (market, side, ord_type, identifier, price, volume).
        if approved.side == "buy":
            request = OrderRequest(self.market, "buy", "price", f"bt-{self.fill_id}", approved.krw_total)
        else:
            request = OrderRequest(self.market, "sell", "market", f"bt-{self.fill_id}", None, approved.volume)
        try:
            validate_order(request, levels=levels, krw_balance=self.krw, coin_balance=self.coin, fee_rate=self.fee_rate)
        except OrderRejected as error:
            # The price moved between the decision (close) and the fill (next open), e.g. a sell now below the minimum.
            self.blocked.append(
                BlockedOrder(
                    index=decided,
                    decided_at=decided_at,
                    side=approved.side,
                    reason=reason,
                    rule=error.name,
                    message=error.message,
                )
            )
            return None
        if approved.side == "buy":
            buy = market_buy_fill(levels, request.price or ZERO, self.fee_rate)
            if buy.executed_volume <= 0:
                return None
            held = self.coin
            self.avg_price = ((self.avg_price * held + buy.executed_funds) / (held + buy.executed_volume)).quantize(KRW_QUANTUM)
            if held <= 0:
                self.entry_at = ts
                self.trip_pnl = ZERO
            self.krw -= buy.krw_spent
            self.coin += buy.executed_volume
            price, volume, funds, fee = buy.fills[0].price, buy.executed_volume, buy.executed_funds, buy.paid_fee
            realized = self.book.apply(FillRecord(self.fill_id, ts, "buy", volume, funds, fee))
            total = request.price
        else:
            sell = market_sell_fill(levels, request.volume or ZERO, self.fee_rate)
            if sell.executed_volume <= 0:
                return None
            self.krw += sell.proceeds
            self.coin -= sell.executed_volume
            price, volume, funds, fee = sell.fills[0].price, sell.executed_volume, sell.executed_funds, sell.paid_fee
            realized = self.book.apply(FillRecord(self.fill_id, ts, "sell", volume, funds, fee))
            total = None
            self.trip_pnl += realized
        self.fees += fee
        if self.coin <= 0:
            self.coin = ZERO
            self.avg_price = ZERO
            self.entry_at = None
            self.round_trip_pnls.append(self.trip_pnl)
            self.trip_pnl = ZERO
        self.trades.append(
            TradeRecord(
                i,  # index
                ts,
                approved.side,
                reason,
                decided_at,
                price,
                volume,
                funds,
                fee,
                realized,  # realized_pnl
                self.krw,  # krw_after
                self.coin,  # coin_after
                self.krw + self.coin * open_price,  # equity_after
                total,
            )
        )
        self.change_index.append(i)
        self.change_krw.append(float(self.krw))
        self.change_coin.append(float(self.coin))
        return realized

    def position(self, highest: float | None) -> Position | None:
        if self.coin <= 0:
            return None
        return Position(
            volume=self.coin,
            avg_buy_price=self.avg_price,
            entry_at=self.entry_at,
            highest_price=_decimal_price(highest) if highest is not None else None,
        )


def run_backtest(config: BacktestConfig, arrays: CandleArrays, *, exhaustive: bool = False) -> BacktestResult:
    """Replay `arrays` (oldest first) and return trades, blocked orders, the equity curve and the metrics.

    While flat with nothing pending, a strategy that uses the base class's `decide` can only act on a
    candle where its entry signal fires (everything else is HOLD: warm-up, no signal, nothing to sell),
    so the loop goes straight to the next such candle. `exhaustive=True` calls `decide` on every candle
    instead; both give the same trades (tests hold them to it)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    strategy = get_strategy(config.strategy)
    n = len(arrays)
    if n == 0:
        raise BacktestError("no candles to replay")
    prepared = strategy.prepare(arrays, config.params)
    timings["prepare"] = time.perf_counter() - started

    loop_started = time.perf_counter()
    with _cycle_collector_paused():
        run = _Run(config, arrays, strategy)
        decide = strategy.decide
        hold = Action.HOLD
        close = prepared.close
        trailing = prepared.trailing_factor is not None
        limit_f = float(config.limits.max_daily_loss_krw)
        keep_f = 1 - float(config.fee_rate)
        tz = config.limits.time_zone
        close_days = _local_days(arrays.start + arrays.unit_sec, tz)
        open_days = _local_days(arrays.start, tz)
        fast = not exhaustive and type(strategy).decide is Strategy.decide
        # Holding, the base class's decide acts only through its exits: with no stop-loss, take-profit or
        # trailing stop and the base exit hooks, that is the strategy's exit signal (or, on a holding worth
        # less than the minimum order, which counts as flat, an entry signal): never on a candle whose raw
        # signal is 0, so those candles need no decide call (the daily loss check below still runs on each).
        kind = type(strategy)
        hold_fast = (
            fast
            and prepared.stop_loss_factor is None
            and prepared.take_profit_factor is None
            and not trailing
            and kind._exit_rule is Strategy._exit_rule
            and kind._strategy_exit is Strategy._strategy_exit
        )
        raw_signal = prepared.signal
        signal = np.asarray(raw_signal)
        candidates = np.flatnonzero(signal > 0)
        candidates = candidates[candidates >= prepared.ready_from].tolist()
        next_candidate = 0
        skip_until = 0
        pending: tuple[risk.RiskResult, str, int, datetime] | None = None
        holding = False
        # The Position decide sees is built when decide is called (None: not built yet for the current holding).
        position: Position | None = None
        highest: float | None = None
        coin_f = 0.0
        cost_f = 0.0
        realized_f = 0.0
        realized_day = -1

        for i in range(n):
            if i < skip_until:
                continue
            if pending is not None:
                approved, reason, decided, decided_at = pending
                pending = None
                realized = run.fill(approved, reason, decided, decided_at, i)
                if realized is not None:
                    if open_days[i] != realized_day:
                        realized_day, realized_f = open_days[i], 0.0
                    realized_f += float(realized)
                holding = run.coin > 0
                coin_f = float(run.coin)
                cost_f = float(run.book.cost)
                highest = float(run.avg_price) if coin_f > 0 else None
                position = None
            if not holding:
                if fast:
                    # Flat: only an entry signal can make an order (see the docstring).
                    while next_candidate < len(candidates) and candidates[next_candidate] < i:
                        next_candidate += 1
                    if next_candidate == len(candidates):
                        break
                    if candidates[next_candidate] > i:
                        skip_until = candidates[next_candidate]
                        continue
            else:
                price = close[i]
                if trailing and highest is not None and price > highest:
                    highest = price
                    position = None
                # The live engine checks the daily loss every cycle, not only when it wants to trade: a loss
                # reached while holding blocks entries for the rest of the day even after a recovery.
                today_f = realized_f if realized_day == close_days[i] else 0.0
                if today_f + coin_f * price * keep_f - cost_f <= -limit_f:
                    run.loss_limit_day = risk.trading_day(run.close_time(i), run.zone)
                if hold_fast and raw_signal[i] == 0:
                    continue
                if position is None:
                    position = run.position(highest)
            decision = decide(prepared, i, position if holding else None)
            if decision.action is hold:
                continue
            if i == n - 1:
                run.blocked.append(
                    BlockedOrder(
                        index=i,
                        decided_at=run.close_time(i),
                        side="buy" if decision.action is Action.BUY else "sell",
                        reason=str(decision.reason),
                        rule="no_next_candle",
                        message="decided on the last candle of the range; there is no next open to fill at",
                    )
                )
                continue
            now = run.close_time(i)
            result = run.gate(decision, i, now)
            if result.allowed:
                pending = (result, str(decision.reason), i, now)
    timings["loop"] = time.perf_counter() - loop_started

    metrics_started = time.perf_counter()
    index = np.searchsorted(np.asarray(run.change_index), np.arange(n), side="right") - 1
    krw_curve = np.asarray(run.change_krw)[index]
    coin_curve = np.asarray(run.change_coin)[index]
    equity = krw_curve + coin_curve * arrays.close
    in_position = coin_curve * arrays.close >= float(config.limits.min_order_krw)
    last_price = _decimal_price(arrays.close[-1])
    final_equity = run.krw + run.coin * last_price
    metrics = compute_metrics(
        initial_krw=float(config.initial_krw),
        start=arrays.start,
        unit_sec=arrays.unit_sec,
        equity=equity,
        in_position=in_position,
        round_trip_pnls=run.round_trip_pnls,
        orders=len(run.trades),
        fees=run.fees,
        close=arrays.close,
        tz=config.limits.time_zone,
    )
    timings["metrics"] = time.perf_counter() - metrics_started
    return BacktestResult(
        config=config,
        arrays=arrays,
        equity=equity,
        in_position=in_position,
        trades=run.trades,
        blocked=run.blocked,
        round_trip_pnls=run.round_trip_pnls,
        metrics=metrics,
        final_krw=run.krw,
        final_coin=run.coin,
        final_equity=final_equity,
        fees=run.fees,
        seconds=timings,
    )
