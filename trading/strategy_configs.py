"""Every registered strategy has its parameter row: the console lists them all, the engine's one marked."""

from __future__ import annotations

from trading.models import StrategyConfig
from trading.strategies import registry


def strategy_configs_ensure() -> int:
    """Create the missing StrategyConfig rows, with no stored parameters (every parameter at its default).

    Returns how many were created. Idempotent; two callers racing both end with one row per strategy
    (the name is unique, and `ignore_conflicts` lets the loser pass)."""
    known = set(StrategyConfig.objects.values_list("strategy", flat=True))
    missing = [StrategyConfig(strategy=name, params={}) for name in registry.STRATEGIES if name not in known]
    if missing:
        StrategyConfig.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)
