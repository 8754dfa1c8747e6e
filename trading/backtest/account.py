"""The backtest's account: balances, the PnL book and the risk memory, gated and filled as the live engine does.

- the risk gate: `trading.engine.risk.evaluate(intent, RiskContext(...))`, which sizes the order (fee-aware,
  MAX_ORDER_KRW, the position cap's room, Upbit's minimum) and applies the cooldown and the daily loss limit
  on the local (TIME_ZONE) trading day, at the price and moment the engine would see;
- the fill: `exchange.matching.validate_order` and `market_buy_fill` / `market_sell_fill`, the functions the
  paper exchange fills with, against `market_model.one_level_book` at that price;
- realized PnL: `trading.engine.pnl.Book`, the book the live engine's daily PnL and loss limit use.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from exchange.exceptions import OrderRejected
from exchange.matching import market_buy_fill, market_sell_fill, validate_order
from exchange.rules import average_buy_price
from exchange.types import OrderBookLevel, OrderRequest, SideName
from trading.backtest.records import BacktestConfig, BlockedOrder, TradeRecord
from trading.engine import risk
from trading.engine.days import trading_day
from trading.engine.pnl import Book, FillRecord, day_baseline
from trading.strategies.base import Position
from trading.strategies.indicators import CandleArrays
from trading.strategies.market_model import one_level_book
from trading.strategies.slippage import slippage_check

ZERO = Decimal("0")
_STRATEGY = risk.IntentSource.STRATEGY  # read once: an enum member read through its class costs a lookup each time


def decimal_price(value: float) -> Decimal:
    """A stored price as the Decimal it was stored as: stored prices have at most 15 significant digits (Upbit's
    have far fewer), and repr() of a float read from such a decimal gives that decimal back exactly."""
    return Decimal(repr(float(value)))


_BOOKS: dict[float, tuple[Decimal, tuple[OrderBookLevel, ...]]] = {}


def book_at(price_f: float) -> tuple[Decimal, tuple[OrderBookLevel, ...]]:
    """The price as a Decimal and the one-level book at it (cached by the float: prices repeat)."""
    cached = _BOOKS.get(price_f)
    if cached is not None:
        return cached
    if len(_BOOKS) > 10_000:
        _BOOKS.clear()
    price = decimal_price(price_f)
    _BOOKS[price_f] = cached = (price, one_level_book(price))
    return cached


class DayBaseline:
    """The unrealized PnL carried into each local day, valued as the engine values it (`pnl.day_baseline`): at the
    close of the last candle that started before local midnight. A position is carried only after a fill at a
    candle before midnight, so that close is always in the history and the backtest never meets an unknown start."""

    def __init__(self, account: BacktestAccount, starts: npt.NDArray[np.int64], closes: list[float]) -> None:
        self.account = account
        self.starts = np.asarray(starts)
        self.closes = closes
        self.cache: dict[date, Decimal] = {}

    def of(self, day: date) -> Decimal:
        cached = self.cache.get(day)
        if cached is not None:
            return cached
        volume, cost = self.account.book.carried_into(day)
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.account.zone).astimezone(UTC)
        before = int(np.searchsorted(self.starts, int(midnight.timestamp()), side="left")) - 1
        close = decimal_price(self.closes[before]) if before >= 0 else None
        value = day_baseline(volume, cost, close, self.account.fee_rate)
        if value is None:
            raise ValueError(f"a position was carried into {day} but the history has no candle before its midnight")
        self.cache[day] = value
        return value


class BacktestAccount:
    """The mutable state of one backtest (balances, position, the PnL book, the risk memory)."""

    def __init__(self, config: BacktestConfig, arrays: CandleArrays) -> None:
        self.config = config
        self.arrays = arrays
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
        self.baseline: DayBaseline | None = None
        self.max_slippage_pct: Decimal | None = config.max_slippage_pct
        # Balance changes for the equity curve: from candle index k on, (krw, coin) as floats.
        self.change_index: list[int] = [0]
        self.change_krw: list[float] = [float(self.krw)]
        self.change_coin: list[float] = [0.0]

    @staticmethod
    def moment(epoch: int) -> datetime:
        return datetime.fromtimestamp(epoch, UTC)

    # --- the gate ----------------------------------------------------------------------------------
    def context(self, now: datetime, price: Decimal) -> risk.RiskContext:
        today = trading_day(now, self.zone)
        book = self.book
        totals = book.days.get(today)
        baseline = self.baseline
        # Positional, in field order (a context is made per order): now, price, krw_free, coin_volume, limits,
        # krw_locked, coin_locked, realized_today, unrealized_now, loss_limit_day, day_start_known, last_buy_at,
        # last_sell_at.
        return risk.RiskContext(
            now,
            price,
            self.krw,
            self.coin,
            self.limits,
            ZERO,
            ZERO,
            totals.realized if totals else ZERO,
            book.unrealized(price, self.fee_rate) - (baseline.of(today) if baseline else ZERO),
            self.loss_limit_day,
            True,
            self.last_buy_at,
            self.last_sell_at,
        )

    def carried(self, day: date) -> Decimal:
        """The unrealized PnL carried into `day` (the engine's daily PnL counts from it)."""
        return self.baseline.of(day) if self.baseline is not None else ZERO

    def gate(self, intent: risk.OrderIntent, index: int, now: datetime, price: Decimal) -> risk.RiskResult:
        """Put an intent decided at candle `index` (at `now`, the engine's moment) through the risk gate."""
        result = risk.evaluate(intent, self.context(now, price))
        if not result.allowed:
            blocked = result.blocked_by
            assert blocked is not None  # noqa: S101 - a refused result always names its rule
            if blocked.rule == risk.Rule.DAILY_LOSS:
                # The live engine remembers the day the limit was hit, so entries stay blocked until midnight.
                self.loss_limit_day = trading_day(now, self.zone)
            self.block(index, now, result.side, intent.reason, str(blocked.rule), blocked.message, dict(blocked.numbers))
        return result

    def block(
        self,
        index: int,
        now: datetime,
        side: SideName,
        reason: str,
        rule: str,
        message: str,
        numbers: dict[str, str] | None = None,
    ) -> None:
        self.blocked.append(BlockedOrder(index, now, side, reason, rule, message, numbers or {}))

    # --- the fill ----------------------------------------------------------------------------------
    def fill(
        self, approved: risk.RiskResult, intent: risk.OrderIntent, index: int, now: datetime, price_f: float
    ) -> Decimal | None:
        """Fill an approved market order at `now` against the book at `price_f`; returns the PnL it realized
        (None: the order was refused by Upbit's rules and nothing filled)."""
        price_d, levels = book_at(price_f)
        side = approved.side
        buying = side == "buy"
        size = approved.krw_total if buying else approved.volume
        if self.max_slippage_pct and size is not None and len(levels) > 1:
            # The engine's slippage limit on the model's book. The model has one level without depth, where the
            # average fill is the best price and nothing slips: the rule can only leave the size as it is, so
            # it is walked only for a deeper book (docs/DECISIONS.md).
            check = slippage_check(levels, approved.side, size, self.max_slippage_pct, fee_rate=self.fee_rate)
            if not check.allowed:
                self.block(index, now, approved.side, intent.reason, "slippage", check.reason)
                return None
            size = check.size
        self.fill_id = fill_id = self.fill_id + 1
        fee_rate = self.fee_rate
        # Positional: (market, side, ord_type, identifier, price, volume).
        if buying:
            request = OrderRequest(self.market, "buy", "price", f"bt-{fill_id}", size)
        else:
            request = OrderRequest(self.market, "sell", "market", f"bt-{fill_id}", None, size)
        try:
            validate_order(request, levels=levels, krw_balance=self.krw, coin_balance=self.coin, fee_rate=fee_rate)
        except OrderRejected as error:
            self.block(index, now, side, intent.reason, error.name, error.message)
            return None
        if buying:
            buy = market_buy_fill(levels, request.price or ZERO, fee_rate)
            if buy.executed_volume <= 0:
                return None
            held = self.coin
            self.avg_price = average_buy_price(held, self.avg_price, buy.executed_volume, buy.executed_funds)
            if held <= 0:
                self.entry_at = now
                self.trip_pnl = ZERO
            self.krw -= buy.krw_spent
            self.coin += buy.executed_volume
            price, volume, funds, fee = buy.fills[0].price, buy.executed_volume, buy.executed_funds, buy.paid_fee
            realized = self.book.apply(FillRecord(fill_id, now, "buy", volume, funds, fee))
            total = request.price
        else:
            sell = market_sell_fill(levels, request.volume or ZERO, fee_rate)
            if sell.executed_volume <= 0:
                return None
            self.krw += sell.proceeds
            self.coin -= sell.executed_volume
            price, volume, funds, fee = sell.fills[0].price, sell.executed_volume, sell.executed_funds, sell.paid_fee
            realized = self.book.apply(FillRecord(fill_id, now, "sell", volume, funds, fee))
            total = None
            self.trip_pnl += realized
        self.fees += fee
        if self.coin <= 0:
            self.coin = ZERO
            self.avg_price = ZERO
            self.entry_at = None
            self.round_trip_pnls.append(self.trip_pnl)
            self.trip_pnl = ZERO
        if intent.source == _STRATEGY:
            if buying:
                self.last_buy_at = now
            else:
                self.last_sell_at = now
        krw, coin = self.krw, self.coin
        self.trades.append(
            TradeRecord(
                index,
                now,
                side,
                intent.reason,
                now,  # decided_at: the engine decides and sends in the same cycle
                price,
                volume,
                funds,
                fee,
                realized,  # realized_pnl
                krw,  # krw_after
                coin,  # coin_after
                krw + coin * price_d,  # equity_after
                total,
            )
        )
        self.change_index.append(index)
        self.change_krw.append(float(krw))
        self.change_coin.append(float(coin))
        return realized

    def position(self, peak: float | None, holding: bool) -> Position | None:
        """The position `decide` sees; dust (worth less than the minimum) carries no entry time or peak."""
        if self.coin <= 0:
            return None
        if not holding:
            return Position(volume=self.coin, avg_buy_price=self.avg_price)
        return Position(
            volume=self.coin,
            avg_buy_price=self.avg_price,
            entry_at=self.entry_at,
            highest_price=decimal_price(peak) if peak is not None else None,
        )
