"""What a trial is scored on, and when a test result counts as a collapse (also in docs/OPTIMIZE.md).

Every objective is maximised and always a finite number, so every backtest can be ranked:

- `return`: total return (final equity / initial KRW - 1).
- `sharpe`: the backtest's daily Sharpe ratio (trading/backtest/metrics.py); 0 when it is not defined
  (fewer than two days, or an equity that never moved: no trade).
- `calmar`: CAGR / max drawdown, the drawdown floored at 1 % so a run with a tiny drawdown cannot rank
  first on a division by almost nothing; total return instead of CAGR for spans under a day.
- `profit_factor`: gross profit / gross loss of the closed round trips (fees included), capped at 100
  (no losing trip); 0 without a closed round trip.

Collapse: the best trials' test objective is compared with their training objective. A trial whose
training objective is positive collapses when its test objective is below half of it, or not positive
(the sign flipped). A training objective at or below 0 has nothing to collapse from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from trading.backtest.metrics import Metrics

OBJECTIVES = ("sharpe", "return", "calmar", "profit_factor")
CALMAR_DRAWDOWN_FLOOR = 0.01
PROFIT_FACTOR_CAP = 100.0
COLLAPSE_RATIO = 0.5


def profit_factor(round_trip_pnls: Sequence[Decimal]) -> float:
    gains = sum((pnl for pnl in round_trip_pnls if pnl > 0), Decimal(0))
    losses = -sum((pnl for pnl in round_trip_pnls if pnl < 0), Decimal(0))
    if not round_trip_pnls or (gains == 0 and losses == 0):
        return 0.0
    if losses == 0:
        return PROFIT_FACTOR_CAP
    return min(float(gains / losses), PROFIT_FACTOR_CAP)


def calmar(metrics: Metrics) -> float:
    growth = metrics.cagr if metrics.cagr is not None else metrics.total_return
    return float(growth) / max(metrics.max_drawdown, CALMAR_DRAWDOWN_FLOOR)


def _finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else 0.0


def summary(metrics: Metrics, round_trip_pnls: Sequence[Decimal], objective: str) -> dict[str, Any]:
    """The figures a trial keeps of one backtest (no trades or curves: a study has hundreds of them)."""
    figures: dict[str, Any] = {
        "return": _finite(metrics.total_return),
        "sharpe": _finite(metrics.sharpe),
        "calmar": _finite(calmar(metrics)),
        "profit_factor": profit_factor(round_trip_pnls),
        "max_drawdown": _finite(metrics.max_drawdown),
        "cagr": metrics.cagr,
        "round_trips": metrics.round_trips,
        "win_rate": metrics.win_rate,
        "orders": metrics.orders,
        "final_equity": round(metrics.final_equity, 2),
        "candles": metrics.candles,
    }
    figures["objective"] = figures[objective]
    return figures


def collapsed(train: float | None, test: float | None) -> bool:
    """Whether the test result collapses against the training result (see the module's docstring)."""
    if train is None or test is None or train <= 0:
        return False
    return test <= 0 or test < COLLAPSE_RATIO * train
