"""The built-in strategies by name, and parameter validation for the admin, the API, the engine and the backtest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trading.strategies.base import InvalidParams, Strategy
from trading.strategies.macd import MacdStrategy
from trading.strategies.momentum import MomentumStrategy
from trading.strategies.sma_cross import SmaCrossStrategy
from trading.strategies.volatility_breakout import VolatilityBreakoutStrategy

STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy for strategy in (MacdStrategy(), SmaCrossStrategy(), VolatilityBreakoutStrategy(), MomentumStrategy())
}
"""Every strategy by its name (the names `settings.STRATEGY` accepts)."""


def get_strategy(name: str) -> Strategy:
    """The strategy called `name`; raises InvalidParams (a ValueError) listing the known names."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise InvalidParams(
            f"unknown strategy {name!r}; use one of: {', '.join(STRATEGIES)}", strategy=str(name), param="strategy", value=name
        ) from None


def validate_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """`params` for strategy `name` with defaults merged in, parsed (int / Decimal / None) and range-checked.

    Raises InvalidParams (a ValueError) whose message names the parameter, the value given and what is
    allowed: unknown names, wrong types, out-of-range values, fast >= slow, K outside (0, 1], a
    negative percentage. Validating an already validated dict returns an equal dict.
    """
    return get_strategy(name).validate(params)
