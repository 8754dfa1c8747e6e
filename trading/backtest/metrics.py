"""Performance figures of a backtest, computed from the equity curve and the round trips.

Definitions (also in docs/BACKTEST.md):

- Equity at a candle: KRW plus coin × that candle's close (no sell fee deducted).
- Total return: final equity / initial KRW − 1.
- CAGR: (final / initial) ^ (365.25 days / span) − 1, where the span runs from the first candle's start
  to the last candle's end; not given for spans shorter than one day, where it means nothing.
- Max drawdown: the largest fall of equity from its running peak, over every candle, as a fraction of
  that peak (and in KRW).
- Sharpe: from daily returns: equity at the last candle of each trading day (settings.TIME_ZONE), the
  first day measured from the initial KRW; mean / sample standard deviation × √365 (crypto trades every
  day), risk-free rate 0. Daily rather than per-candle so 1-minute and 1-hour runs are comparable and
  minute-level noise does not inflate the figure. Not given with fewer than two days or zero volatility.
- Win rate: closed round trips (flat → position → flat) whose realized PnL (fees included) is > 0,
  over all closed round trips.
- Exposure: the share of candles at whose close a position was held.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

SECONDS_PER_YEAR = 365.25 * 86400
TRADING_DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class Metrics:
    initial_krw: float
    final_equity: float
    total_return: float
    cagr: float | None
    max_drawdown: float
    max_drawdown_krw: float
    sharpe: float | None
    win_rate: float | None
    round_trips: int
    wins: int
    orders: int
    fees: Decimal
    exposure: float
    buy_and_hold_return: float | None
    candles: int
    days: int

    def as_dict(self) -> dict[str, object]:
        def r(value: float | None, places: int = 6) -> float | None:
            return None if value is None or not math.isfinite(value) else round(value, places)

        return {
            "initial_krw": r(self.initial_krw, 2),
            "final_equity": r(self.final_equity, 2),
            "total_return": r(self.total_return),
            "cagr": r(self.cagr),
            "max_drawdown": r(self.max_drawdown),
            "max_drawdown_krw": r(self.max_drawdown_krw, 2),
            "sharpe": r(self.sharpe, 4),
            "win_rate": r(self.win_rate, 4),
            "round_trips": self.round_trips,
            "wins": self.wins,
            "orders": self.orders,
            "fees_krw": str(self.fees),
            "exposure": r(self.exposure, 4),
            "buy_and_hold_return": r(self.buy_and_hold_return),
            "candles": self.candles,
            "days": self.days,
        }


def max_drawdown(equity: npt.NDArray[np.float64]) -> tuple[float, float]:
    """(fraction, KRW) of the largest fall from a running peak."""
    if equity.size == 0:
        return 0.0, 0.0
    peak = np.maximum.accumulate(equity)
    drop = peak - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(peak > 0, drop / peak, 0.0)
    return float(fraction.max()), float(drop.max())


def daily_closes(start: npt.NDArray[np.int64], equity: npt.NDArray[np.float64], tz: str) -> npt.NDArray[np.float64]:
    """Equity at the last candle of each local calendar day, oldest first."""
    if start.size == 0:
        return np.empty(0, dtype=np.float64)
    offset = _utc_offsets(start, tz)
    day = (start + offset) // 86400
    last_of_day = np.flatnonzero(np.diff(day)) if day.size > 1 else np.empty(0, dtype=np.int64)
    last_of_day = np.append(last_of_day, day.size - 1)
    return equity[last_of_day]


def _utc_offsets(start: npt.NDArray[np.int64], tz: str) -> npt.NDArray[np.int64]:
    """Seconds to add to UTC epoch seconds to get local wall-clock seconds, per candle.

    Computed per distinct UTC hour-day boundary so half a million candles cost a few hundred lookups,
    yet zones with daylight saving time still come out right. Each hour's offset is remembered, so the
    replay and the metrics, which both ask, pay for it once."""
    hours = start // 3600
    if hours.size and bool(np.all(hours[1:] >= hours[:-1])):
        # Oldest first (as candles are): the distinct hours are where the hour changes, no sort needed.
        firsts = np.concatenate(([0], np.flatnonzero(hours[1:] != hours[:-1]) + 1))
        unique_hours = hours[firsts]
        counts = np.diff(np.append(firsts, hours.size))
        return np.repeat(_hour_offsets(unique_hours, tz), counts)
    unique_hours, inverse = np.unique(hours, return_inverse=True)
    return _hour_offsets(unique_hours, tz)[inverse]


_OFFSETS: dict[tuple[str, int], int] = {}


def _hour_offsets(hours: npt.NDArray[np.int64], tz: str) -> npt.NDArray[np.int64]:
    from datetime import UTC, datetime

    zone = ZoneInfo(tz)
    known = _OFFSETS
    if len(known) > 1_000_000:
        known.clear()
    values = []
    for hour in hours.tolist():
        offset = known.get((tz, hour))
        if offset is None:
            moment = datetime.fromtimestamp(hour * 3600, tz=UTC).astimezone(zone)
            offset = known[(tz, hour)] = int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]
        values.append(offset)
    return np.array(values, dtype=np.int64)


def sharpe_daily(daily_equity: npt.NDArray[np.float64], initial: float) -> float | None:
    if daily_equity.size < 2:
        return None
    series = np.concatenate(([initial], daily_equity))
    returns = series[1:] / series[:-1] - 1
    std = float(returns.std(ddof=1))
    if not math.isfinite(std) or std == 0:
        return None
    return float(returns.mean()) / std * math.sqrt(TRADING_DAYS_PER_YEAR)


def compute_metrics(
    *,
    initial_krw: float,
    start: npt.NDArray[np.int64],
    unit_sec: int,
    equity: npt.NDArray[np.float64],
    in_position: npt.NDArray[np.bool_],
    round_trip_pnls: Sequence[Decimal],
    orders: int,
    fees: Decimal,
    close: npt.NDArray[np.float64] | None = None,
    tz: str = "Asia/Seoul",
) -> Metrics:
    n = int(equity.size)
    final = float(equity[-1]) if n else initial_krw
    total_return = final / initial_krw - 1 if initial_krw > 0 else 0.0
    span = float(start[-1] + unit_sec - start[0]) if n else 0.0
    cagr = None
    if span >= 86400 and initial_krw > 0 and final > 0:
        cagr = (final / initial_krw) ** (SECONDS_PER_YEAR / span) - 1
    elif span >= 86400 and final <= 0:
        cagr = -1.0
    dd, dd_krw = max_drawdown(equity)
    daily = daily_closes(start, equity, tz)
    wins = sum(1 for pnl in round_trip_pnls if pnl > 0)
    trips = len(round_trip_pnls)
    buy_hold = None
    if close is not None and n and close[0] > 0:
        buy_hold = float(close[-1] / close[0] - 1)
    return Metrics(
        initial_krw=initial_krw,
        final_equity=final,
        total_return=total_return,
        cagr=cagr,
        max_drawdown=dd,
        max_drawdown_krw=dd_krw,
        sharpe=sharpe_daily(daily, initial_krw),
        win_rate=(wins / trips) if trips else None,
        round_trips=trips,
        wins=wins,
        orders=orders,
        fees=fees,
        exposure=float(in_position.mean()) if n else 0.0,
        buy_and_hold_return=buy_hold,
        candles=n,
        days=int(daily.size),
    )
