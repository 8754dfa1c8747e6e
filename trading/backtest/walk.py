"""The backtest's walk through the candles: the live engine's cycle, at each point of each candle's path.

Every candle is visited at its open, low, high and close (market_model.py). At each point the steps of
an engine cycle run in the engine's order (docs/DECISIONS.md):

1. protective exits on the point's price (the peak raised to it first), filled at that price's book;
2. unless an order was placed in step 1: the strategy's decision on the newest closed candle, once per
   candle (the previous candle is closed from the open point on), gated and filled at the point's price;
   no entry on a signal from the candle that triggered the last exit;
3. the daily loss check (realized today + unrealized since local midnight), which blocks entries for the
   rest of the local day once the limit is reached.

Prices are floats (the strategy's arrays); money is Decimal and is only computed when something happens.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import numpy as np

from exchange.rules import KRW_QUANTUM
from trading.backtest.account import BacktestAccount, DayBaseline, decimal_price
from trading.engine import risk
from trading.engine.days import trading_day
from trading.strategies.base import Action, Prepared, Reason, Strategy
from trading.strategies.market_model import path_offsets
from trading.strategies.protective import ProtectiveRules
from trading.strategies.registry import get_strategy

NEAR = 1e-6
"""Relative distance within which a float comparison is redone in Decimal, exactly as the engine makes it."""


def _local_days(epochs: np.ndarray, tz: str) -> list[int]:
    from trading.backtest.metrics import _utc_offsets

    return ((epochs + _utc_offsets(epochs, tz)) // 86400).tolist()  # type: ignore[no-any-return]


_INTENTS: dict[tuple[str, str], risk.OrderIntent] = {}


def _intent(side: risk.Side, reason: Reason | str, source: risk.IntentSource) -> risk.OrderIntent:
    """Intents are immutable and depend only on side, reason and source: one of each kind."""
    key = (side + str(source), str(reason))
    intent = _INTENTS.get(key)
    if intent is None:
        intent = _INTENTS[key] = risk.OrderIntent(side=side, source=source, reason=str(reason))
    return intent


def _daily_total(account: BacktestAccount, baseline: DayBaseline, day: date, price: Decimal) -> Decimal:
    """Today's realized + unrealized PnL as the engine's PnL book states it (8 decimals each)."""
    totals = account.book.days.get(day)
    realized = totals.realized if totals else Decimal(0)
    unrealized = account.book.unrealized(price, account.fee_rate) - baseline.of(day, price)
    return realized.quantize(KRW_QUANTUM) + unrealized.quantize(KRW_QUANTUM)


def walk(account: BacktestAccount, prepared: Prepared, *, fast: bool) -> None:
    """Run the engine's cycle at every point of every candle (or straight to the next possible entry while flat)."""
    arrays = account.arrays
    n = len(arrays)
    strategy: Strategy = get_strategy(prepared.strategy)
    decide = strategy.decide
    rules = ProtectiveRules.from_params(prepared.params)
    protect = rules.active
    atr = prepared.lists.get("atr")
    offsets = path_offsets(arrays.unit_sec)
    starts: list[int] = arrays.start.tolist()
    paths = list(zip(arrays.open.tolist(), arrays.low.tolist(), arrays.high.tolist(), prepared.close, strict=True))
    limits = account.limits
    tz = limits.time_zone
    point_days = [_local_days(arrays.start + offset, tz) for offset in offsets]
    min_total = limits.min_order_krw
    min_f = float(min_total)
    limit = limits.max_daily_loss_krw
    limit_f = float(limit)
    keep_f = 1 - float(account.fee_rate)
    baseline = DayBaseline(account, starts, prepared.close)
    account.baseline = baseline
    signal = np.asarray(prepared.signal)
    candidates = np.flatnonzero(signal > 0)
    candidates = candidates[candidates >= prepared.ready_from].tolist()
    next_candidate = 0
    decided = -1
    exit_candle = -1
    peak: float | None = None
    day_seen: dict[int, date] = {}

    i = 0
    while i < n:
        if fast and account.coin <= 0 and decided >= i - 1:
            # Flat with nothing pending: only a candle with an entry signal can lead to an order.
            while next_candidate < len(candidates) and candidates[next_candidate] < i - 1:
                next_candidate += 1
            if next_candidate == len(candidates) or candidates[next_candidate] + 1 >= n:
                break
            target = candidates[next_candidate] + 1
            if target > i:
                decided = target - 2  # the candles in between decide HOLD
                i = target
        start = starts[i]
        for k, price in enumerate(paths[i]):
            acted = False
            coin = account.coin
            holding = False
            if coin > 0:
                value_f = float(coin) * price
                holding = value_f >= min_f * (1 + NEAR) or (
                    value_f >= min_f * (1 - NEAR) and coin * decimal_price(price) >= min_total
                )
            if holding:
                avg_f = float(account.avg_price)
                peak = max(peak if peak is not None else avg_f, price)
                if protect:
                    latest_atr = atr[i - 1] if atr is not None and i >= 1 else None
                    if latest_atr is not None and not math.isfinite(latest_atr):
                        latest_atr = None
                    fired = rules.check(avg_buy_price=avg_f, peak=peak, price=price, atr=latest_atr)
                    if fired is not None:
                        exit_candle = i
                        intent = _intent("sell", fired.reason, risk.IntentSource.EXIT_RULE)
                        now = account.moment(start + offsets[k])
                        result = account.gate(intent, i, now, decimal_price(price))
                        if result.allowed:
                            acted = account.fill(result, intent, i, now, price) is not None
            else:
                peak = None
            if not acted and i - 1 > decided:
                decided = i - 1
                position = account.position(peak, holding)
                decision = decide(prepared, i - 1, position)
                action = decision.action
                if action is not Action.HOLD:
                    now = account.moment(start + offsets[k])
                    if action is Action.BUY and i - 1 <= exit_candle:
                        account.block(i - 1, now, "buy", str(decision.reason), "no_reentry", "no re-entry on the exit's candle")
                    else:
                        side: risk.Side = "buy" if action is Action.BUY else "sell"
                        if side == "sell":
                            exit_candle = i - 1
                        intent = _intent(side, decision.reason, risk.IntentSource.STRATEGY)
                        result = account.gate(intent, i - 1, now, decimal_price(price))
                        if result.allowed:
                            account.fill(result, intent, i, now, price)
            if limit_f < 1e14 and (account.coin > 0 or account.book.days):
                _loss_check(account, baseline, point_days[k][i], day_seen, start + offsets[k], price, limit, keep_f)
        i += 1


def _loss_check(
    account: BacktestAccount,
    baseline: DayBaseline,
    day_number: int,
    day_seen: dict[int, date],
    epoch: int,
    price_f: float,
    limit: Decimal,
    keep_f: float,
) -> None:
    """The engine's daily loss check at one point: once reached, entries are blocked until local midnight."""
    day = day_seen.get(day_number)
    if day is None:
        day = day_seen[day_number] = trading_day(account.moment(epoch), account.zone)
    if account.loss_limit_day == day:
        return
    price = decimal_price(price_f)
    # A float estimate first (cheap); the exact figure only when the estimate is near the limit.
    totals = account.book.days.get(day)
    realized_f = float(totals.realized) if totals else 0.0
    estimate = realized_f + float(account.book.volume) * price_f * keep_f - float(account.book.cost)
    estimate -= float(baseline.of(day, price))
    if -estimate < float(limit) * (1 - NEAR):
        return
    if -_daily_total(account, baseline, day, price) >= limit:
        account.loss_limit_day = day
