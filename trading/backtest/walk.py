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
from bisect import bisect_left
from collections.abc import Callable
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

SHORT_STRETCH = 64
"""Quiet stretches up to this many candles are checked against the daily loss limit one float at a time."""
_STRATEGY = risk.IntentSource.STRATEGY  # enum members read once (a read through the class costs a lookup)
_EXIT_RULE = risk.IntentSource.EXIT_RULE
_HOLD, _BUY = Action.HOLD, Action.BUY
NEAR = 1e-6
"""Relative distance within which a float comparison is redone in Decimal, exactly as the engine makes it."""


def _day_numbers(epochs: np.ndarray, tz: str) -> np.ndarray:
    """The local (tz) day number of each epoch."""
    from trading.backtest.metrics import _utc_offsets

    return (epochs + _utc_offsets(epochs, tz)) // 86400


def _shared_list(days: np.ndarray) -> list[int]:
    """`days` as a list holding one int object per distinct day (a year of minutes: 366 objects, not half a
    million), so the lists of a year of minutes take 4 MB each instead of 19 MB."""
    if not days.size:
        return []
    first = int(days.min())
    shared = np.array(range(first, int(days.max()) + 1), dtype=object)
    return shared[days - first].tolist()  # type: ignore[no-any-return]


def _column(values: np.ndarray) -> memoryview:
    """A numpy column as a memoryview: indexing it gives Python ints or floats, as a list would."""
    return np.ascontiguousarray(values).data


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
    unrealized = account.book.unrealized(price, account.fee_rate) - baseline.of(day)
    return realized.quantize(KRW_QUANTUM) + unrealized.quantize(KRW_QUANTUM)


def _floats(account: BacktestAccount) -> tuple[float, float, float, float]:
    """The account's coin, average buy price, and the PnL book's volume and cost, as floats for the loop."""
    book = account.book
    return float(account.coin), float(account.avg_price), float(book.volume), float(book.cost)


def _day_figures(account: BacktestAccount, day_seen: dict[int, date], number: int, epoch: int) -> tuple[date, float]:
    """The local trading day numbered `number` (the point at `epoch` falls on it) and its realized PnL so far."""
    day = day_seen.get(number)
    if day is None:
        day = day_seen[number] = trading_day(account.moment(epoch), account.zone)
    totals = account.book.days.get(day)
    return day, float(totals.realized) if totals else 0.0


PROGRESS_STEPS = 50
"""How often a walk reports its progress: every 1/50 of the candles (2%), so a report costs nothing measurable."""


def walk(account: BacktestAccount, prepared: Prepared, *, fast: bool, progress: Callable[[float], None] | None = None) -> None:
    """Run the engine's cycle at every point of every candle (or straight to the next possible entry while flat).

    The loop keeps float copies of the balances and of today's figures, refreshed after each fill and at each
    new local day, so a held candle costs a few float comparisons; Decimal money is computed only when an
    order is made or a float estimate comes near a limit. `progress`, when given, is called with the share of
    the candles walked (0..1) about every 2% of them."""
    arrays = account.arrays
    n = len(arrays)
    step = max(1, n // PROGRESS_STEPS)
    next_report = step if progress is not None else n + 1
    strategy: Strategy = get_strategy(prepared.strategy)
    decide = strategy.decide
    rules = ProtectiveRules.from_params(prepared.params)
    protect = rules.active
    atr = prepared.lists.get("atr")
    offsets = path_offsets(arrays.unit_sec)
    # Columns the walk reads only on the candles it visits are read through memoryviews (a Python int or float
    # per read) rather than lists (half a million objects, 19 MB each); the path of a candle is built when its
    # points are walked (a list of half a million 4-tuples would take 80 MB).
    starts = _column(arrays.start)
    opens = _column(arrays.open)
    lows = _column(arrays.low)
    highs: list[float] = prepared.high if len(prepared.high) == n else arrays.high.tolist()
    closes: list[float] = prepared.close
    limits = account.limits
    tz = limits.time_zone
    numbers = [_day_numbers(arrays.start + offset, tz) for offset in offsets]
    point_days = [_shared_list(numbers[0])]
    for days in numbers[1:]:
        # Most candles lie inside one local day: then every point's list is the open point's.
        point_days.append(point_days[0] if np.array_equal(days, numbers[0]) else _shared_list(days))
    # Candles where the daily loss check's figures must be looked at again: a new local day at the open, or
    # a candle that spans local midnight.
    day_marks: list[int] = np.flatnonzero(
        np.concatenate(([True], numbers[0][1:] != numbers[0][:-1])) | (numbers[-1] != numbers[0])
    ).tolist()
    del numbers
    lows_a = arrays.low
    min_total = limits.min_order_krw
    min_f = float(min_total)
    limit = limits.max_daily_loss_krw
    limit_f = float(limit)
    limit_on = limit_f < 1e14
    keep_f = 1 - float(account.fee_rate)
    baseline = DayBaseline(account, arrays.start, prepared.close)
    account.baseline = baseline
    raw_signal = prepared.signal
    signal = np.asarray(raw_signal)
    candidates = np.flatnonzero(signal > 0)
    candidates = candidates[candidates >= prepared.ready_from].tolist()
    # Holding, the base class's decide only sells on the strategy's exit signal (raw < 0): a candle whose raw
    # signal is 0 decides HOLD, held or flat, so it needs no decide call.
    skip_quiet = fast and type(strategy)._strategy_exit is Strategy._strategy_exit
    # Candles whose previous candle has a raw signal (the only ones a quiet stretch can end at, limits aside).
    signalled: list[int] = (np.flatnonzero(signal != 0) + 1).tolist()
    next_candidate = 0
    decided = -1
    exit_candle = -1
    peak: float | None = None
    day_seen: dict[int, date] = {}
    fills_seen = -1
    coin_f = avg_f = volume_f = cost_f = 0.0
    day_number = -1
    day: date | None = None
    realized_today_f = 0.0
    carried_f: float | None = None

    i = 0
    while i < n:
        if i >= next_report and progress is not None:
            progress(i / n)
            next_report = (i // step + 1) * step
        if fast and account.coin <= 0 and decided >= i - 2:
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
        # Without protective exits, only the open point can act (the candle decision) unless the daily loss
        # check needs the others: it cannot fire inside a candle whose low leaves today's PnL clear of the limit.
        every_point = protect
        fills_at_start = account.fill_id
        watch_limit = limit_on and not protect and bool(account.coin > 0 or account.book.days)
        if watch_limit:
            if account.fill_id != fills_seen:
                fills_seen = account.fill_id
                coin_f, avg_f, volume_f, cost_f = _floats(account)
                day_number = -1
            if point_days[0][i] != day_number:
                day_number = point_days[0][i]
                day, realized_today_f = _day_figures(account, day_seen, day_number, start + offsets[0])
                carried_f = None
            if point_days[-1][i] != day_number:
                every_point = True  # the candle spans local midnight: each point on its own day
            elif day is not None and account.loss_limit_day != day:
                if carried_f is None:
                    carried_f = float(baseline.of(day))
                # The low is the lowest point: if today's PnL is clear of the limit there, it is at every point.
                lowest = realized_today_f + volume_f * lows[i] * keep_f - cost_f - carried_f
                every_point = -lowest >= limit_f * (1 - NEAR) * 0.999
        if not every_point and skip_quiet and i - 1 > decided and raw_signal[i - 1] == 0:
            # A quiet candle clear of the limit (and no protective exit to watch): its open point decides HOLD
            # on the previous candle and no other step can act.
            decided = i - 1
            i += 1
            # The candles after a quiet one are skipped alike (nothing has changed) up to the first that
            # the checks above would not skip: its previous candle has a signal, it starts a new local day
            # or spans midnight, or its low brings today's PnL near the limit (the same float expression,
            # evaluated by numpy for the stretch).
            stop = signalled[bisect_left(signalled, i)] if signalled and signalled[-1] >= i else n
            if watch_limit:
                mark = bisect_left(day_marks, i)
                if mark < len(day_marks):
                    stop = min(stop, day_marks[mark])
                if day is not None and account.loss_limit_day != day and stop > i and carried_f is not None:
                    threshold = limit_f * (1 - NEAR) * 0.999
                    if stop - i <= SHORT_STRETCH:
                        # Most stretches are a few candles long: plain floats beat numpy's set-up (same values).
                        for j in range(i, stop):
                            if -(realized_today_f + volume_f * lows[j] * keep_f - cost_f - carried_f) >= threshold:
                                stop = j
                                break
                    else:
                        lowest_a = realized_today_f + volume_f * lows_a[i:stop] * keep_f - cost_f - carried_f
                        near = np.flatnonzero(-lowest_a >= threshold)
                        if near.size:
                            stop = i + int(near[0])
            if stop > i:
                decided = stop - 2
                i = stop
            continue
        path = (opens[i], lows[i], highs[i], closes[i])
        for k in range(4):
            if k and not every_point:
                break
            price = path[k]
            if account.fill_id != fills_seen:
                fills_seen = account.fill_id
                coin_f, avg_f, volume_f, cost_f = _floats(account)
                day_number = -1  # today's realized PnL may have changed
            acted = False
            holding = False
            if coin_f > 0:
                value_f = coin_f * price
                holding = value_f >= min_f * (1 + NEAR) or (
                    value_f >= min_f * (1 - NEAR) and account.coin * decimal_price(price) >= min_total
                )
            if holding:
                if protect:
                    peak = max(peak if peak is not None else avg_f, price)
                    latest_atr = atr[i - 1] if atr is not None and i >= 1 else None
                    if latest_atr is not None and not math.isfinite(latest_atr):
                        latest_atr = None
                    fired = rules.check(avg_buy_price=avg_f, peak=peak, price=price, atr=latest_atr)
                    if fired is not None:
                        exit_candle = i
                        intent = _intent("sell", fired.reason, _EXIT_RULE)
                        now = account.moment(start + offsets[k])
                        result = account.gate(intent, i, now, decimal_price(price))
                        if result.allowed:
                            acted = account.fill(result, intent, i, now, price) is not None
            else:
                peak = None
            if not acted and i - 1 > decided:
                decided = i - 1
                if not (skip_quiet and raw_signal[i - 1] == 0):
                    decision = decide(prepared, i - 1, account.position(peak, holding))
                    action = decision.action
                    if action is not _HOLD:
                        now = account.moment(start + offsets[k])
                        if action is _BUY and i - 1 <= exit_candle:
                            account.block(
                                i - 1, now, "buy", str(decision.reason), "no_reentry", "no re-entry on the exit's candle"
                            )
                        else:
                            side: risk.Side = "buy" if action is _BUY else "sell"
                            if side == "sell":
                                exit_candle = i - 1
                            intent = _intent(side, decision.reason, _STRATEGY)
                            result = account.gate(intent, i - 1, now, decimal_price(price))
                            if result.allowed:
                                account.fill(result, intent, i, now, price)
            if limit_on and (account.coin > 0 or account.book.days):
                if account.fill_id != fills_seen:
                    fills_seen = account.fill_id
                    coin_f, avg_f, volume_f, cost_f = _floats(account)
                    day_number = -1
                if point_days[k][i] != day_number:
                    day_number = point_days[k][i]
                    day, realized_today_f = _day_figures(account, day_seen, day_number, start + offsets[k])
                    carried_f = None
                if day is None or account.loss_limit_day == day:
                    continue
                if carried_f is None:
                    carried_f = float(baseline.of(day))
                # A float estimate first (cheap); the exact figure, as the engine's PnL book states it, only near the limit.
                estimate = realized_today_f + volume_f * price * keep_f - cost_f - carried_f
                if -estimate >= limit_f * (1 - NEAR) and -_daily_total(account, baseline, day, decimal_price(price)) >= limit:
                    account.loss_limit_day = day
            if not every_point and limit_on and account.fill_id != fills_at_start:
                # The open point filled an order: today's figures changed, so the other points are checked too.
                every_point = True
        i += 1
