"""Trading strategies: pure functions of closed candles, the position and parameters (see base.py)."""

from __future__ import annotations

from trading.engine.strategies.base import (
    EXIT_RULE_REASONS,
    Action,
    Decision,
    InvalidParams,
    ParamSpec,
    Position,
    Prepared,
    Reason,
    Strategy,
)
from trading.engine.strategies.registry import STRATEGIES, get_strategy, validate_params

__all__ = [
    "EXIT_RULE_REASONS",
    "STRATEGIES",
    "Action",
    "Decision",
    "InvalidParams",
    "ParamSpec",
    "Position",
    "Prepared",
    "Reason",
    "Strategy",
    "get_strategy",
    "validate_params",
]
