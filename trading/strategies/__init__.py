"""Trading strategies: pure functions of closed candles, the position and parameters (see base.py)."""

from __future__ import annotations

from trading.strategies.base import (
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
from trading.strategies.registry import STRATEGIES, get_strategy, validate_params

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
