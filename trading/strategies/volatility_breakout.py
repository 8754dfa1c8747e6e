"""Larry Williams' volatility breakout, as Upbit traders run it.

- The trading day is the candle day: 00:00 UTC to 24:00 UTC, which is 09:00 to 09:00 KST, the same
  day as Upbit's daily candle (so the daily candle's open and range match this strategy's).
- Target = today's open (the open of the day's first candle) + K × yesterday's range (high - low of
  all of yesterday's candles). Yesterday must be in the candles in full: the candles must start at or
  before yesterday's first minute, and there is no target after a day with no candles at all.
- BUY on the closed candle whose close crosses above the target (the day's first candle counts as a
  cross when it closes above); one cross is one signal, so after a stop-loss the strategy waits for
  price to fall back under the target and cross again rather than buying straight back in.
- No BUY on the day's last candle (the position would be sold at the next open, paying two fees for
  nothing); on daily candles every candle is the last of its day, so this strategy needs intraday ones.
- SELL with the day's last candle (the order then fills at the next day's open), or on the first
  candle seen of a later day than the entry (when the last candle was missing, or the engine was
  down at the day change). Without a known entry time (`Position.entry_at` None) only the day's last
  candle sells: pass the entry time so a missed day change is caught.
- Runs on hourly candles by default (`candle_unit` 60): the previous day then fits in 48 candles.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from trading.strategies.base import Action, ParamSpec, Position, Prepared, Reason, Strategy, fmt, to_decimal
from trading.strategies.indicators import SECONDS_PER_DAY, CandleArrays, FloatArray


class VolatilityBreakoutStrategy(Strategy):
    name = "volatility_breakout"
    title = "Volatility breakout (Larry Williams)"
    description = (
        "BUY when the close breaks above today's open + K × yesterday's range (day = Upbit's candle day, "
        "09:00 KST); SELL at the day's end so the position is out by the next day's open."
    )
    default_candle_unit = 60
    param_specs = (
        ParamSpec(
            "k",
            "decimal",
            Decimal("0.5"),
            Decimal("0"),
            Decimal("1"),
            "the share of yesterday's range added to today's open",
            min_inclusive=False,
        ),
    )

    def min_candles(self, params: Mapping[str, Any] | None = None, unit_sec: int | None = None) -> int:
        """Two days of candles (of `unit_sec`, default the `candle_unit` parameter), so yesterday is always complete."""
        clean = self.validate(params)
        unit = unit_sec if unit_sec else clean["candle_unit"] * 60
        return max(2, 2 * SECONDS_PER_DAY // max(1, unit))

    def _indicators(
        self, arrays: CandleArrays, params: dict[str, Any]
    ) -> tuple[dict[str, FloatArray], list[int], int, dict[str, list[Any]]]:
        n = len(arrays)
        k = float(params["k"])
        start = arrays.start
        unit = arrays.unit_sec
        day = start // SECONDS_PER_DAY
        nan = np.full(n, np.nan)
        if n == 0:
            empty: dict[str, list[Any]] = {"target": [], "day_open": [], "prev_range": [], "day": [], "last_of_day": []}
            return {"target": nan, "day_open": nan, "prev_range": nan}, [], 0, empty
        first = np.flatnonzero(np.concatenate(([True], day[1:] != day[:-1])))
        seg_day = day[first]
        seg_high = np.maximum.reduceat(arrays.high, first)
        seg_low = np.minimum.reduceat(arrays.low, first)
        seg_open = arrays.open[first]
        seg_range = seg_high - seg_low
        # The first day in the data is complete only if its first candle is the day's first candle.
        seg_complete = np.ones(first.shape[0], dtype=np.bool_)
        seg_complete[0] = int(start[0] - seg_day[0] * SECONDS_PER_DAY) < unit
        prev_range = np.full(first.shape[0], np.nan)
        if first.shape[0] > 1:
            usable = (seg_day[:-1] == seg_day[1:] - 1) & seg_complete[:-1]
            prev_range[1:] = np.where(usable, seg_range[:-1], np.nan)
        seg_target = seg_open + k * prev_range
        lengths = np.diff(np.concatenate((first, [n])))
        per_candle = np.repeat(np.arange(first.shape[0]), lengths)
        target = seg_target[per_candle]
        day_open = seg_open[per_candle]
        prev_range_c = prev_range[per_candle]
        last_of_day = (start + unit) >= (day + 1) * SECONDS_PER_DAY
        first_of_day = np.zeros(n, dtype=np.bool_)
        first_of_day[first] = True
        close = arrays.close
        with np.errstate(invalid="ignore"):
            above = close > target
            was_below = np.ones(n, dtype=np.bool_)
            was_below[1:] = close[:-1] <= target[1:]
            cross = above & (first_of_day | was_below)
        raw = cross.astype(np.int8)
        series = {"target": target, "day_open": day_open, "prev_range": prev_range_c}
        lists: dict[str, list[Any]] = {
            "target": target.tolist(),
            "day_open": day_open.tolist(),
            "prev_range": prev_range_c.tolist(),
            "day": day.tolist(),
            "last_of_day": last_of_day.tolist(),
        }
        return series, raw.tolist(), 0, lists

    def _idle_reason(self, p: Prepared, i: int) -> Reason:
        target = p.lists["target"][i]
        return Reason.NO_HISTORY if target != target else Reason.NO_SIGNAL

    def _entry_blocked(self, p: Prepared, i: int) -> Reason | None:
        if p.lists["last_of_day"][i]:
            return Reason.DAY_END
        return None

    def _strategy_exit(self, p: Prepared, i: int, position: Position) -> Reason | None:
        day = p.lists["day"][i]
        if position.entry_at is not None and int(position.entry_at.timestamp()) // SECONDS_PER_DAY < day:
            return Reason.DAY_CHANGED
        if p.lists["last_of_day"][i]:
            return Reason.DAY_END
        return None

    def _score(self, p: Prepared, i: int) -> float:
        target = p.lists["target"][i]
        if target != target or not target:
            return 0.0
        return float((p.close[i] - target) / target * 100)

    def _describe(self, p: Prepared, i: int, action: Action, reason: Reason) -> tuple[str, dict[str, Any]]:
        target, day_open, prev_range = p.lists["target"][i], p.lists["day_open"][i], p.lists["prev_range"][i]
        close = p.close[i]
        day = datetime.fromtimestamp(p.lists["day"][i] * SECONDS_PER_DAY, tz=UTC).date()
        values: dict[str, Any] = {
            "trading_day": day.isoformat(),
            "day_open": to_decimal(day_open),
            "prev_range": to_decimal(prev_range),
            "target": to_decimal(target),
            "k": p.params["k"],
        }
        k = f"{p.params['k'].normalize():f}"
        if reason == Reason.NO_HISTORY:
            return (f"no target for trading day {day} (09:00 KST): the candles do not hold the complete previous day"), values
        formula = f"target {fmt(target)} = day open {fmt(day_open)} + {k} × yesterday's range {fmt(prev_range)}"
        if reason == Reason.DAY_END:
            if action == Action.SELL:
                return f"trading day {day} ends with this candle; sell to be out at the next day's open ({formula})", values
            return f"close {fmt(close)} broke above the {formula}, but the day ends with this candle; no entry", values
        if reason == Reason.DAY_CHANGED:
            return f"position carried into trading day {day}; the breakout trade ends at the day change", values
        if p.signal[i] > 0:
            return f"close {fmt(close)} broke above the {formula}", values
        side = "above" if close > target else "at or below"
        return f"close {fmt(close)} is {side} the {formula}, no breakout cross", values
